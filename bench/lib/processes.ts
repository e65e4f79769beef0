import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { TestNatsServer, waitForPort } from '../../support/nats-server.js';

const ROOT = new URL('../../', import.meta.url).pathname;

export interface Proc {
  child: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

function wrap(child: ChildProcess): Proc {
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The benchmark's own nats-server with JetStream (the tests' helper: temporary store, killed after). */
export async function startNats(): Promise<{ pid: number; url: string; stop(): Promise<void> }> {
  const server = await TestNatsServer.start();
  return { pid: server.pid, url: server.url, stop: () => server.stop() };
}

/** A gateway pod from the compiled build (npm run build), in cluster mode. */
export async function startGateway(
  host: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<Proc & { http: string; ws: string }> {
  // Logs at error, as the issue's measurements were taken (BENCH_LOG_LEVEL=info to see them).
  const port = Number(env.DAISI_WS_SERVER_HTTP_PORT ?? 17000 + Math.floor(Math.random() * 1000));
  // As `npm start` and the image run it (README, "Memory"); a later flag in nodeArgs wins.
  const child = spawn(
    process.execPath,
    ['--max-semi-space-size=2', ...nodeArgs, join(ROOT, 'bin/daisi-ws.js'), 'start'],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        DAISI_WS_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
        DAISI_WS_SERVER_HOST: host,
        DAISI_WS_SERVER_POD_ID: host,
        DAISI_WS_SERVER_HTTP_PORT: String(port),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  // BENCH_GATEWAY_STDOUT=file keeps each pod's whole stdout (e.g. with --trace-deopt in BENCH_GATEWAY_NODE_ARGS).
  const keep = process.env.BENCH_GATEWAY_STDOUT
    ? createWriteStream(`${process.env.BENCH_GATEWAY_STDOUT}.${host}`)
    : undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    keep?.write(`${line}\n`);
    if (line.includes('"level":"error"')) process.stderr.write(`[gateway ${host}] ${line}\n`);
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`))),
  );
  exited.catch(() => undefined); // stopping it later is not an error
  await Promise.race([waitForPort(port, 20_000, host), exited]);
  // It listens before it reads the stream, and takes upgrades only once it reads (503 before).
  await Promise.race([waitForReady(`http://${host}:${port}`, 20_000), exited]);
  return { ...wrap(child), http: `http://${host}:${port}`, ws: `ws://${host}:${port}` };
}

async function waitForReady(http: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (
    (await fetch(`${http}/ready`).then(
      (r) => r.status,
      () => 0,
    )) !== 200
  ) {
    if (Date.now() > deadline) throw new Error(`${http} not ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A baseline server (bench/baselines/*.ts) through tsx. */
export async function startBaseline(
  file: string,
  port: number,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<Proc & { http: string; ws: string }> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(ROOT, 'bench/baselines', file)], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitForPort(port, 15_000);
  return { ...wrap(child), http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
}

const CLOCK_TICKS = 100;

/** CPU seconds a process has used so far (user + system): support/cpu.ts's, shared with the tests. */
export { cpuSecondsOf as cpuSeconds } from '../../support/cpu.js';

/** CPU time a process spent in the kernel (system calls: socket reads and writes). */
export function kernelSeconds(pid: number): number {
  return Number(statFields(`/proc/${pid}/stat`)[12]) / CLOCK_TICKS;
}

/** Minor page faults of a process, its threads included: a heap that keeps taking fresh pages shows here. */
export function minorFaults(pid: number): number {
  return Number(statFields(`/proc/${pid}/stat`)[7]);
}

/** The fields of a process's or thread's `stat` file after its name. */
function statFields(path: string): string[] {
  return readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
}

/** CPU time of a process's main thread (JavaScript; the rest is GC and compiler threads, libuv's pool). */
export function mainThreadSeconds(pid: number): number {
  const fields = statFields(`/proc/${pid}/task/${pid}/stat`);
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * System calls a process has made that read and that write (`/proc/<pid>/io`: socket reads and
 * writes and writevs count alike). Per second they show how often a pod wakes to read and how
 * many frames go out in one write.
 */
export function ioCalls(pid: number): { reads: number; writes: number } {
  const text = readFileSync(`/proc/${pid}/io`, 'utf8');
  return {
    reads: Number(/^syscr: (\d+)/m.exec(text)?.[1] ?? NaN),
    writes: Number(/^syscw: (\d+)/m.exec(text)?.[1] ?? NaN),
  };
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** A session on another Node process's inspector (SIGUSR1 opens it on 127.0.0.1:9229; one process at a time). */
export async function inspectorOf(
  pid: number,
): Promise<{ call(method: string, params?: object): Promise<any>; close(): void }> {
  process.kill(pid, 'SIGUSR1');
  let url: string | undefined;
  for (let i = 0; i < 50 && !url; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      const targets = (await (await fetch('http://127.0.0.1:9229/json/list')).json()) as Array<{
        webSocketDebuggerUrl?: string;
      }>;
      url = targets[0]?.webSocketDebuggerUrl;
    } catch {
      // not open yet
    }
  }
  if (!url) throw new Error(`the inspector of process ${pid} did not open`);
  const ws = new WebSocket(url, { maxPayload: 1 << 30 });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let lastId = 0;
  return {
    call: (method, params = {}) =>
      new Promise((resolve) => {
        const id = ++lastId;
        const onMessage = (m: WebSocket.RawData) => {
          const reply = JSON.parse(String(m));
          if (reply.id !== id) return;
          ws.off('message', onMessage);
          resolve(reply.result);
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

/**
 * A full garbage collection in another Node process, through its inspector: what a process
 * holds, rather than what it holds plus the garbage nothing has collected yet. Works alike for
 * the gateway and the baselines.
 */
export async function collectGarbage(pid: number): Promise<void> {
  const inspector = await inspectorOf(pid);
  await inspector.call('HeapProfiler.collectGarbage');
  inspector.close();
}

/** The AES key of the tokens the probes (idle-heap, handshake-alloc) seal. */
export const PROBE_AES_KEY = '270cec3a9081be630f5350bc42b244156615e55a2153e2652dc4f460673350c6';

/** One gateway pod in cluster mode on the local Redis and `natsUrl`, for the probes: client key `k`. */
export function startProbePod(natsUrl: string, nodeArgs: string[] = []): ReturnType<typeof startGateway> {
  return startGateway(
    '127.0.0.2',
    {
      DAISI_WS_REDIS_ADDRESS: process.env.BENCH_REDIS_ADDRESS ?? '127.0.0.1:6379',
      DAISI_WS_NATS_URL: natsUrl,
      DAISI_WS_AUTH_SECRET_TOKEN: 'k',
      DAISI_WS_AUTH_ADMIN_SECRET_TOKEN: 'a',
      DAISI_WS_AUTH_TOKEN_AES_KEY: PROBE_AES_KEY,
      DAISI_WS_AUTH_ADMIN_TOKEN_AES_KEY: PROBE_AES_KEY,
    },
    nodeArgs,
  );
}
