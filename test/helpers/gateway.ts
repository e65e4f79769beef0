import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { ConfigStore } from '../../src/platform/config/store.js';
import { createGateway, type Gateway } from '../../src/app/gateway.js';
import { createLogger } from '../../src/platform/logger.js';
import { sealToken, parseAesKey } from '../../src/domain/token-crypto.js';
import { KEYS, baseEnv } from './env.js';
import { spawnTied } from '../../support/spawn-tied.js';

export interface RunningGateway {
  http: string;
  ws: string;
  host: string;
  gateway: Gateway;
  /** Its configuration: tests rewrite the file and call `store.reload()`. */
  store: ConfigStore;
  stop(): Promise<void>;
}

/** A gateway in this process (fast; for everything that does not need to kill a process). */
export async function startGateway(overrides: Record<string, string> = {}): Promise<RunningGateway> {
  const env = baseEnv(overrides);
  const store = new ConfigStore({ env });
  const cfg = store.get();
  const log = process.env.TEST_LOG_LEVEL ? createLogger(cfg.log.level, { service: 'test' }) : pino({ level: 'silent' });
  const gateway = await createGateway(store, log);
  const host = cfg.server.host || '127.0.0.1';
  return {
    http: `http://${host}:${gateway.httpPort()}`,
    ws: `ws://${host}:${gateway.httpPort()}`,
    host,
    gateway,
    store,
    stop: () => gateway.stop(),
  };
}

export interface ChildGateway {
  http: string;
  ws: string;
  podId: string;
  process: ChildProcess;
  /** stdout/stderr lines so far. */
  output: string[];
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

const CLI = new URL('../../src/app/cli.ts', import.meta.url).pathname;

/** A gateway in its own process, as a pod: `host` is its loopback address and pod id. */
export interface SpawnOptions {
  /** The pod's open-file limit (soft and hard), as a container's would be. */
  fileLimit?: number;
}

export async function spawnGateway(
  host: string,
  overrides: Record<string, string> = {},
  options: SpawnOptions = {},
): Promise<ChildGateway> {
  const env = {
    ...process.env,
    ...baseEnv({ DAISI_WS_SERVER_HOST: host, DAISI_WS_SERVER_POD_ID: host, ...overrides }),
    DAISI_WS_LOG_LEVEL: 'info',
  };
  // TEST_CPU_PROF_DIR: every pod writes a CPU profile there when it exits on SIGTERM.
  const prof = process.env.TEST_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.TEST_CPU_PROF_DIR}`] : [];
  const argv = [...prof, '--import', 'tsx', CLI, 'start'];
  // prlimit sets the limit on itself and then becomes the pod: the pid stays the pod's.
  const child = options.fileLimit
    ? spawnTied('prlimit', [`--nofile=${options.fileLimit}:${options.fileLimit}`, process.execPath, ...argv], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawnTied(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started = new Promise<number>((resolve, reject) => {
    const onLine = (line: string) => {
      output.push(line);
      if (process.env.TEST_LOG_LEVEL) process.stderr.write(`[${host}] ${line}\n`);
      if (line.includes('"gateway started"')) resolve(JSON.parse(line).http_port);
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    void exited.then((code) => reject(new Error(`gateway ${host} exited with ${code}:\n${output.join('\n')}`)));
    setTimeout(() => reject(new Error(`gateway ${host} did not start:\n${output.join('\n')}`)), 20_000).unref();
  });
  const port = await started;
  return {
    http: `http://${host}:${port}`,
    ws: `ws://${host}:${port}`,
    podId: host,
    process: child,
    output,
    exited,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export function companyToken(companyId: string, agentId: string, userId: string, ttlSeconds = 3600): string {
  const expires = new Date(Date.now() + ttlSeconds * 1000).toISOString();
  return sealToken(
    parseAesKey(KEYS.aes),
    JSON.stringify({ company_id: companyId, agent_id: agentId, user_id: userId, expires_at: expires }),
  );
}

export function adminToken(
  claims: {
    admin_id: string;
    subscribed_company_id?: string;
    subscribed_agent_id?: string;
    company_id_restriction?: string;
  },
  ttlSeconds = 3600,
): string {
  const expires = new Date(Date.now() + ttlSeconds * 1000).toISOString();
  return sealToken(parseAesKey(KEYS.adminAes), JSON.stringify({ ...claims, expires_at: expires }));
}

export function userUrl(base: string, companyId: string, agentId: string, token: string, apiKey = KEYS.client): string {
  const query = `token=${encodeURIComponent(token)}&x-api-key=${encodeURIComponent(apiKey)}`;
  return `${base}/ws/${encodeURIComponent(companyId)}/${encodeURIComponent(agentId)}?${query}`;
}

export function adminUrl(base: string, token: string, apiKey = KEYS.client): string {
  return `${base}/ws/admin?token=${encodeURIComponent(token)}&x-api-key=${encodeURIComponent(apiKey)}`;
}
