#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, NatsConnectionError, RedisConnectionError } from '../domain/errors.js';
import { TokenMinter } from '../services/token-minter.js';
import { DEV_SECRETS_FILE, type DevSecrets, devSecretsFor, missingSecrets } from '../platform/config/dev-secrets.js';
import { isProduction, loadConfig, loadDotEnv, type Env } from '../platform/config/load.js';
import { ConfigStore } from '../platform/config/store.js';
import type { Config } from '../platform/config/schema.js';
import { engineKindOf } from './engine.js';
import { createGateway, type Gateway } from './gateway.js';
import {
  disconnectCommand,
  NO_ADMIN_KEY,
  OPERATOR_USAGES,
  type OperatorTarget,
  sessionsCommand,
} from './cli-operator.js';
import { createLogger } from '../platform/logger.js';
import { Registry } from 'prom-client';
import { type CdcRunner, startCdc } from './cdc.js';
import { createCdcHttpServer } from '../transports/http/cdc-http-server.js';

const USAGES: Record<string, string> = {
  start: `  daisi-ws [start]          start the gateway (embedded engine when redis.address and nats.url are empty)`,
  token: `  daisi-ws token            mint a token offline from the configured AES keys
      --company C --agent A --user U [--ttl SECONDS]
      --admin ID [--subscribed-company C] [--subscribed-agent A] [--restriction C] [--ttl SECONDS]`,
  publish: `  daisi-ws publish          publish an event through a running gateway's /api/publish
      --company C --agent A --kind chats|messages|agents [--chat ID] --event JSON [--url URL] [--key KEY]`,
  ...OPERATOR_USAGES,
  cdc: `  daisi-ws cdc              run the CDC bridge alone: cdc.postgres_url's slot into nats.url's stream
                            (/health, /ready, /metrics on server.host:server.http_port)`,
  'check-config': `  daisi-ws check-config     validate the configuration and print what would run`,
};

const USAGE = `daisi-ws — real-time event gateway (NATS JetStream in, WebSocket sessions out)

Usage:
${Object.values(USAGES).join('\n')}
  daisi-ws <command> --help

Configuration: config/config.yaml (DAISI_WS_CONFIG_PATH, DAISI_WS_CONFIG_NAME), every key
overridable by DAISI_WS_<SECTION>_<KEY>; a .env file is read when present. In development the
secrets not configured are generated once and kept in ${DEV_SECRETS_FILE} (mode 0600), where
every command finds them.
Operator verbs (publish, sessions, disconnect) send the admin key: --key, else DAISI_WS_ADMIN_KEY,
else auth.admin_secret_token; --url defaults to http://127.0.0.1:<server.http_port>.`;

type Command = (args: string[]) => Promise<number>;

const terminal = {
  out: (text: string) => process.stdout.write(`${text}\n`),
  err: (text: string) => process.stderr.write(`${text}\n`),
};

const commands: Record<string, Command> = {
  start,
  token,
  publish,
  sessions: (args) => operator(sessionsCommand, args),
  disconnect: (args) => operator(disconnectCommand, args),
  cdc,
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
  if (rest.includes('--help') || rest.includes('-h') || argv.includes('--help')) {
    return print(`Usage:\n${USAGES[name]}\n\n(daisi-ws --help: every command and the configuration)`);
  }
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

/**
 * The configuration (with `.env` read first, and in development the secrets `npm start` generated),
 * or the exit code after printing why it is invalid.
 */
function loadOrFail(): Config | number {
  loadDotEnv();
  try {
    const cfg = loadConfig({ env: process.env }).config;
    if (isProduction(process.env) || missingSecrets(cfg).length === 0) return cfg;
    const dev = devSecretsFor(cfg, { generate: false });
    return loadConfig({ env: { ...process.env, ...dev.env } }).config;
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, 2);
    throw err;
  }
}

/** Where the operator verbs go, and the admin key they send (see USAGE). */
function operatorTarget(cfg: Config, flags: { url?: string; key?: string }): OperatorTarget {
  return {
    url: flags.url ?? `http://127.0.0.1:${cfg.server.http_port}`,
    key: flags.key ?? process.env.DAISI_WS_ADMIN_KEY ?? (cfg.auth.admin_secret_token || undefined),
  };
}

async function operator(
  command: (args: string[], target: OperatorTarget, io: typeof terminal) => Promise<number>,
  args: string[],
): Promise<number> {
  const cfg = loadOrFail();
  if (typeof cfg === 'number') return cfg;
  const { values } = parseArgs({
    args,
    options: { url: { type: 'string' }, key: { type: 'string' } },
    strict: false,
  });
  const flags = { url: values.url as string | undefined, key: values.key as string | undefined };
  return command(args, operatorTarget(cfg, flags), terminal);
}

async function start(): Promise<number> {
  loadDotEnv();
  let env: Env = process.env;
  let initial: Config;
  try {
    initial = loadConfig({ env }).config;
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, 2);
    throw err;
  }
  const missing = missingSecrets(initial);
  let dev: DevSecrets | undefined;
  if (missing.length > 0) {
    if (isProduction(env)) return fail(`refusing to start in production without ${missing.join(', ')}`, 2);
    dev = devSecretsFor(initial, { generate: true });
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
  let bridge: CdcRunner | undefined;
  try {
    gateway = await createGateway(store, log, () => bridge?.dependencies() ?? {});
  } catch (err) {
    if (err instanceof RedisConnectionError || err instanceof NatsConnectionError || err instanceof ConfigError) {
      log.flush();
      return fail(err.message);
    }
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return fail(`cannot listen: ${(err as Error).message}`);
    throw err;
  }
  if (dev) announceDevSecrets(store.get(), dev);
  if (cfg.cdc.enabled) {
    try {
      bridge = await startCdc(
        cfg,
        log,
        gateway.metrics.registry,
        gateway.engine.kind === 'embedded' ? gateway.engine.stream : undefined,
      );
    } catch (err) {
      await gateway.stop();
      return fail((err as Error).message, 2);
    }
  }
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
      void Promise.resolve(bridge?.stop())
        .then(() => gateway.stop())
        .then(() => {
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

function announceDevSecrets(cfg: Config, dev: DevSecrets): void {
  const base = `http://127.0.0.1:${cfg.server.http_port}`;
  const kept = dev.generated.length > 0 ? `generated now: ${dev.generated.join(', ')}` : 'the ones generated before';
  process.stdout.write(
    [
      '',
      `  daisi-ws development mode: secrets from ${dev.file} (${kept})`,
      `  client API key (X-API-Key):   ${cfg.auth.secret_token}`,
      `  admin API key:                ${cfg.auth.admin_secret_token}`,
      `  demo page:                    ${base}/#key=${cfg.auth.secret_token}&admin=${cfg.auth.admin_secret_token}`,
      `  operator page:                ${base}/admin (paste the admin key)`,
      "  for the README's curl examples and the CLI:",
      `    export DAISI_WS_ADMIN_KEY=${cfg.auth.admin_secret_token}`,
      '  `daisi-ws token …` and the other commands find these keys by themselves.',
      '',
    ].join('\n'),
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
      url: { type: 'string' },
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
  const { url, key } = operatorTarget(cfg, values);
  if (!key) return fail(NO_ADMIN_KEY, 2);
  const res = await fetch(`${url}/api/publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': key },
    body: JSON.stringify({
      company_id: values.company,
      agent_id: values.agent,
      kind: values.kind,
      chat_id: values.chat,
      event,
    }),
  }).catch((err: Error) => err);
  if (res instanceof Error) return fail(`cannot reach ${url} (${res.message})`);
  const text = await res.text();
  if (!res.ok) return fail(`${res.status} ${text}`);
  return print(text);
}

/** `daisi-ws cdc`: the bridge as its own process, any number of them (one reads, the others stand by). */
async function cdc(): Promise<number> {
  const cfg = loadOrFail();
  if (typeof cfg === 'number') return cfg;
  if (!cfg.nats.url) return fail('daisi-ws cdc needs nats.url (the embedded node runs the bridge with cdc.enabled)', 2);
  const log = createLogger(cfg.log.level, { service: `${cfg.app.service_name}-cdc`, version: cfg.app.version });
  const registry = new Registry();
  let runner: CdcRunner;
  try {
    runner = await startCdc(cfg, log, registry);
  } catch (err) {
    return fail((err as Error).message, 2);
  }
  const http = createCdcHttpServer(() => runner.dependencies(), registry);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(cfg.server.http_port, cfg.server.host || undefined, () => resolve());
  }).catch(async (err: Error) => {
    await runner.stop();
    throw new Error(`cannot listen: ${err.message}`);
  });
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'cdc bridge stopping');
      http.close();
      void runner.stop().then(() => {
        log.flush();
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
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
