#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, NatsConnectionError, RedisConnectionError } from '../domain/errors.js';
import { TokenMinter } from '../services/token-minter.js';
import { devSecretsFor, missingSecrets } from '../platform/config/dev-secrets.js';
import { isProduction, loadConfig, loadDotEnv, type Env } from '../platform/config/load.js';
import { ConfigStore } from '../platform/config/store.js';
import type { Config } from '../platform/config/schema.js';
import { engineKindOf } from './engine.js';
import { createGateway, type Gateway } from './gateway.js';
import { disconnectCommand, OPERATOR_USAGE, sessionsCommand } from './cli-operator.js';
import { createLogger } from '../platform/logger.js';

const USAGE = `daisi-ws — real-time event gateway (NATS JetStream in, WebSocket sessions out)

Usage:
  daisi-ws [start]          start the gateway (embedded engine when redis.address and nats.url are empty)
  daisi-ws token            mint a token offline from the configured AES keys
      --company C --agent A --user U [--ttl SECONDS]
      --admin ID [--subscribed-company C] [--subscribed-agent A] [--restriction C] [--ttl SECONDS]
  daisi-ws publish          publish an event through a running gateway's /api/publish
      --company C --agent A --kind chats|messages|agents [--chat ID] --event JSON [--url URL]
${OPERATOR_USAGE}
  daisi-ws check-config     validate the configuration and print what would run
  daisi-ws <command> --help

Configuration: config/config.yaml (DAISI_WS_CONFIG_PATH, DAISI_WS_CONFIG_NAME), every key
overridable by DAISI_WS_<SECTION>_<KEY>; a .env file is read when present.`;

type Command = (args: string[]) => Promise<number>;

const terminal = {
  out: (text: string) => process.stdout.write(`${text}\n`),
  err: (text: string) => process.stderr.write(`${text}\n`),
};

const commands: Record<string, Command> = {
  start,
  token,
  publish,
  sessions: (args) => sessionsCommand(args, process.env, terminal),
  disconnect: (args) => disconnectCommand(args, process.env, terminal),
  'check-config': checkConfig,
};

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') return print(USAGE);
  const name = !first || first.startsWith('-') ? 'start' : first;
  const command = commands[name];
  if (!command) {
    process.stderr.write(`daisi-ws: unknown command "${name}"\n\n${USAGE}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) return print(USAGE);
  return command(!first || first.startsWith('-') ? argv : rest);
}

function print(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

function fail(message: string, code = 1): number {
  process.stderr.write(`daisi-ws: ${message}\n`);
  return code;
}

/** The configuration (with `.env` read first), or the exit code after printing why it is invalid. */
function loadOrFail(env?: Env): Config | number {
  if (!env) {
    loadDotEnv();
    env = process.env;
  }
  try {
    return loadConfig({ env }).config;
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, 2);
    throw err;
  }
}

async function start(): Promise<number> {
  loadDotEnv();
  let env: Env = process.env;
  const initial = loadOrFail(env);
  if (typeof initial === 'number') return initial;
  const missing = missingSecrets(initial);
  let dev = { env: {} as Env, generated: [] as string[] };
  if (missing.length > 0) {
    if (isProduction(env)) return fail(`refusing to start in production without ${missing.join(', ')}`, 2);
    dev = devSecretsFor(initial);
    env = { ...process.env, ...dev.env };
  }
  let store: ConfigStore;
  try {
    store = new ConfigStore({ env });
    engineKindOf(store.get());
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, 2);
    throw err;
  }
  const cfg = store.get();
  const log = createLogger(cfg.log.level, { service: cfg.app.service_name, version: cfg.app.version });
  for (const warning of store.warnings) log.warn(warning);
  if (!cfg.auth.token_generation_secret) {
    if (store.production && !cfg.auth.allow_client_key_minting)
      log.warn('auth.token_generation_secret is not set: /generate-token answers 403 (production)');
    else
      log.warn(
        'auth.token_generation_secret is not set: anyone with the browser-visible client key can mint tokens for ' +
          'any user',
      );
  }
  let gateway: Gateway;
  try {
    gateway = await createGateway(store, log);
  } catch (err) {
    if (err instanceof RedisConnectionError || err instanceof NatsConnectionError || err instanceof ConfigError) {
      log.flush();
      return fail(err.message);
    }
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return fail(`cannot listen: ${(err as Error).message}`);
    throw err;
  }
  if (dev.generated.length > 0) announceDevSecrets(store.get(), dev.generated);
  store.onReload((source, result) => {
    if (!result.ok)
      log.error({ source, err: result.error }, 'configuration reload failed; keeping the previous configuration');
    else log.info({ source, restart_needed: result.restartNeeded }, 'configuration reloaded');
  });
  store.watch();
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      const timer = setTimeout(
        () => resolve(fail('shutdown timed out')),
        store.get().app.shutdown_timeout_seconds * 1000,
      );
      timer.unref();
      void gateway.stop().then(() => {
        clearTimeout(timer);
        store.close();
        log.flush();
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

function announceDevSecrets(cfg: Config, generated: string[]): void {
  const port = cfg.server.http_port;
  const demoUrl = `http://127.0.0.1:${port}/#key=${cfg.auth.secret_token}&admin=${cfg.auth.admin_secret_token}`;
  process.stdout.write(
    [
      '',
      '  daisi-ws development mode: generated for this run only (not saved):',
      `    ${generated.join(', ')}`,
      `  client API key (X-API-Key):   ${cfg.auth.secret_token}`,
      `  admin API key:                ${cfg.auth.admin_secret_token}`,
      `  demo page:                    ${demoUrl}`,
      '  Set them in config/config.yaml or DAISI_WS_AUTH_* to keep them across restarts.',
      '',
    ]
      .join('\n')
      .concat('\n'),
  );
}

async function token(args: string[]): Promise<number> {
  const cfg = loadOrFail();
  if (typeof cfg === 'number') return cfg;
  const { values } = parseArgs({
    args,
    options: {
      company: { type: 'string' },
      agent: { type: 'string' },
      user: { type: 'string' },
      admin: { type: 'string' },
      'subscribed-company': { type: 'string' },
      'subscribed-agent': { type: 'string' },
      restriction: { type: 'string' },
      ttl: { type: 'string', default: '3600' },
    },
  });
  const minter = new TokenMinter(() => cfg);
  const ttl = Number(values.ttl);
  try {
    const minted = values.admin
      ? minter.mintAdmin({
          admin_id: values.admin,
          expires_in_seconds: ttl,
          subscribed_company_id: values['subscribed-company'],
          subscribed_agent_id: values['subscribed-agent'],
          company_id_restriction: values.restriction,
        })
      : minter.mintCompany({
          company_id: values.company,
          agent_id: values.agent,
          user_id: values.user,
          expires_in_seconds: ttl,
        });
    return print(minted);
  } catch (err) {
    const e = err as Error & { details?: string };
    return fail(`${e.message}${e.details ? `: ${e.details}` : ''}`, 2);
  }
}

async function publish(args: string[]): Promise<number> {
  const cfg = loadOrFail();
  if (typeof cfg === 'number') return cfg;
  const { values } = parseArgs({
    args,
    options: {
      url: { type: 'string', default: `http://127.0.0.1:${cfg.server.http_port}` },
      company: { type: 'string' },
      agent: { type: 'string' },
      kind: { type: 'string' },
      chat: { type: 'string' },
      event: { type: 'string' },
      key: { type: 'string' },
    },
  });
  let event: unknown;
  try {
    event = JSON.parse(values.event ?? '');
  } catch {
    return fail('--event must be a JSON object', 2);
  }
  const res = await fetch(`${values.url}/api/publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': values.key ?? cfg.auth.admin_secret_token },
    body: JSON.stringify({
      company_id: values.company,
      agent_id: values.agent,
      kind: values.kind,
      chat_id: values.chat,
      event,
    }),
  }).catch((err: Error) => err);
  if (res instanceof Error) return fail(`cannot reach ${values.url} (${res.message})`);
  const text = await res.text();
  if (!res.ok) return fail(`${res.status} ${text}`);
  return print(text);
}

async function checkConfig(): Promise<number> {
  loadDotEnv();
  try {
    const store = new ConfigStore({ env: process.env });
    const cfg = store.get();
    print(`configuration OK (${store.file ?? 'no file; defaults and environment'}); engine: ${engineKindOf(cfg)}`);
    for (const warning of store.warnings) print(`warning: ${warning}`);
    const missing = missingSecrets(cfg);
    if (missing.length) print(`not configured: ${missing.join(', ')}`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, 2);
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Exit once output is flushed, even if a client library left a handle open.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: Error) => {
    process.stderr.write(`daisi-ws: ${err.message}\n`);
    process.exit(1);
  },
);
