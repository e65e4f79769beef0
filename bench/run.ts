// The benchmark harness: `npm run bench [-- --quick] [-- --scenarios fanout,max]`.
// Clients run in separate worker processes; the gateway runs in cluster mode against the real
// Redis and a real nats-server; each figure is measured for the gateway and, in the same run on
// the same clients, for two baselines: a raw `ws` broadcaster (the ceiling for Node) and Socket.IO
// 4 with the Redis adapter (the peer). A third, `--kinds …,contract`, is raw `ws` plus the least
// this contract asks of a handshake (the floor for connect and idle). Output: a markdown table and
// bench/results/*.json.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { parseAesKey, sealToken } from '../src/domain/token-crypto.js';
import {
  collectGarbage,
  cpuSeconds,
  ioCalls,
  kernelSeconds,
  minorFaults,
  mainThreadSeconds,
  rssBytes,
  startBaseline,
  startGateway,
  startNats,
  type Proc,
} from './lib/processes.js';
import { nowMs, summarize } from './lib/stats.js';
import { cdcTable, scenarioCdc } from './cdc.js';
import { nats210, TestNatsCluster } from '../support/nats-cluster.js';
import { TestNatsServer } from '../support/nats-server.js';

/** The cdc scenario's own table (bench/cdc.ts), printed after the others. */
let cdcFigures: string | undefined;
import type { Mode, SessionSpec } from './client-worker.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scenarios: {
      type: 'string',
      default: 'connect,fanout,max,chats,large,idle,filter,resume,fleet,fleet-disjoint,fleet6,fleet-cluster,cdc',
    },
    'no-build': { type: 'boolean', default: false },
    kinds: { type: 'string', default: 'gateway,raw,sio' },
    steps: { type: 'string' },
    profile: { type: 'boolean', default: false },
    /**
     * Seconds at the first step's rate before every ramp, not measured: fresh processes' JIT and heaps settle (0:
     * none).
     */
    warm: { type: 'string', default: '0' },
    /**
     * How the raw baseline reads `wa.>`: nats.js (`client`), the gateway's InboxWire (`wire`), or the stream as a pod
     * does (`ordered`).
     */
    'raw-reader': { type: 'string', default: 'client' },
  },
});
const QUICK = args.quick;
const WARM_SECONDS = Number(args.warm);
const SCENARIOS = new Set(args.scenarios.split(','));
const P: { connectN: number; fanoutN: number; fanoutR: number; seconds: number; maxSteps: number[]; idleNs: number[] } =
  QUICK
    ? { connectN: 500, fanoutN: 300, fanoutR: 500, seconds: 3, maxSteps: [500, 2000, 6000], idleNs: [1000] }
    : {
        connectN: 2000,
        fanoutN: 1000,
        fanoutR: 1000,
        seconds: 8,
        maxSteps: [2000, 4000, 5000, 6000, 7000, 8000, 10000, 12000],
        idleNs: [1000, 5000, 10000],
      };
const AGENTS = 100;
const CHATS_PER_AGENT = 5;
const KEYS = {
  client: 'bench-client-key',
  admin: 'bench-admin-key',
  aes: '270cec3a9081be630f5350bc42b244156615e55a2153e2652dc4f460673350c6',
  adminAes: '97c2f43def2596ff2d635e924f6de7918b2eb1b79b761974c2493afb597c9e1b',
};
const REDIS = process.env.BENCH_REDIS_ADDRESS ?? '127.0.0.1:6379';
const GRPC_PORT = String(15000 + Math.floor(Math.random() * 1000));
const RUN = `b${Date.now().toString(36)}`;
const PAD = 'x'.repeat(120);

/** `contract`: raw `ws` plus the contract's least per handshake (baselines/raw-contract.ts); connect and idle only. */
type Kind = 'gateway' | 'raw' | 'sio' | 'contract';
const KINDS = args.kinds.split(',') as Kind[];
/** The kinds that deliver events (the contract floor only handshakes). */
const EVENT_KINDS = KINDS.filter((k) => k !== 'contract');
if (args.steps) P.maxSteps = args.steps.split(',').map(Number);

// ---------- workers ----------

class Worker {
  private waiting: Array<{ type: string; resolve: (m: any) => void }> = [];
  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: any) => {
      const i = this.waiting.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m);
    });
  }
  static async start(): Promise<Worker> {
    const child = fork(new URL('./client-worker.ts', import.meta.url).pathname, [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
    });
    const w = new Worker(child);
    await w.expect('up');
    return w;
  }
  expect(type: string): Promise<any> {
    return new Promise((resolve) => this.waiting.push({ type, resolve }));
  }
  request(message: object, reply: string): Promise<any> {
    const p = this.expect(reply);
    this.child.send(message);
    return p;
  }
}

let workers: Worker[] = [];
const all = <T>(fn: (w: Worker, i: number) => Promise<T>) => Promise.all(workers.map(fn));

// ---------- sessions and events ----------

function sessions(
  kind: Kind,
  base: { ws: string },
  n: number,
  withChats: boolean,
  tag: string,
  chatsPerAgent = CHATS_PER_AGENT,
): SessionSpec[] {
  const key = parseAesKey(KEYS.aes);
  const expires = new Date(Date.now() + 3600_000).toISOString();
  return Array.from({ length: n }, (_, j) => {
    const company = `${RUN}${tag}`;
    const agent = `a${j % AGENTS}`;
    const user = `u${j}`;
    const chat = withChats ? `k${Math.floor(j / AGENTS) % chatsPerAgent}` : undefined;
    let url: string;
    if (kind === 'gateway' || kind === 'contract') {
      const token = sealToken(
        key,
        JSON.stringify({ company_id: company, agent_id: agent, user_id: user, expires_at: expires }),
      );
      url = `${base.ws}/ws/${company}/${agent}?token=${encodeURIComponent(token)}&x-api-key=${KEYS.client}`;
    } else if (kind === 'raw') url = `${base.ws}/ws/${company}/${agent}`;
    else url = base.ws.replace('ws://', 'http://');
    return { company, agent, user, chat, url };
  });
}

async function connectSessions(kind: Kind, specs: SessionSpec[], concurrency = 50) {
  const mode: Mode = kind === 'gateway' || kind === 'contract' ? 'gateway' : kind;
  // Whole rounds of agents per worker, so that every worker holds sessions of every agent.
  const parts = workers.map((_, i) => specs.filter((_, j) => Math.floor(j / AGENTS) % workers.length === i));
  const replies = await all((w, i) =>
    w.request({ cmd: 'connect', mode, sessions: parts[i], concurrency }, 'connected'),
  );
  const handshakes = Float64Array.from(replies.flatMap((r) => r.handshakes));
  return {
    handshakes,
    failures: replies.reduce((s, r) => s + r.failures, 0),
    ms: Math.max(...replies.map((r) => r.ms)),
  };
}

const closeSessions = () => all((w) => w.request({ cmd: 'close' }, 'closed'));

class Publisher {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
  ) {}
  static async connect(url: string) {
    const nc = await connect({ servers: url.split(',') });
    return new Publisher(nc, jetstream(nc));
  }
  /** Publishes at `rate` events/s for `seconds`, over every agent's chat list and chats. */
  async run(company: string, rate: number, seconds: number, chatsPerAgent = CHATS_PER_AGENT, pad = PAD) {
    const published: Record<string, string[]> = {};
    const inflight: Array<Promise<unknown>> = [];
    const started = Date.now();
    const batch = started.toString(36); // event ids are unique across steps of a ramp
    let n = 0;
    while (Date.now() - started < seconds * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      while (n < due) {
        const agent = `a${n % AGENTS}`;
        const chats = n % 2 === 0;
        const chat = `k${Math.floor(n / AGENTS) % chatsPerAgent}`;
        const subject = chats ? `wa.${company}.${agent}.chats` : `wa.${company}.${agent}.messages.${chat}`;
        const id = `${company}-${batch}-${n}`;
        published[subject] ??= [];
        published[subject].push(id);
        const payload = {
          event_id: id,
          event_time: new Date().toISOString(),
          company_id: company,
          agent_id: agent,
          ...(chats ? {} : { chat_id: chat }),
          row_data: { sent_at: nowMs(), text: pad },
        };
        inflight.push(this.js.publish(subject, JSON.stringify(payload)));
        n++;
        if (inflight.length >= 2000) await inflight.shift();
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(inflight);
    return { published, count: n, rate: n / ((Date.now() - started) / 1000) };
  }
  publishRaw(subject: string, text: string) {
    return this.js.publish(subject, text);
  }
  async purge(stream: string) {
    const jsm = await jetstreamManager(this.nc);
    await jsm.streams.purge(stream).catch(() => undefined);
  }
  async ensureStream(stream: string, replicas = 1) {
    const jsm = await jetstreamManager(this.nc);
    // As a pod creates it (interest reading: the stream republishes what it stores to dws.wa.>).
    await jsm.streams.info(stream).catch(() =>
      jsm.streams.add({
        name: stream,
        subjects: ['wa.>'],
        num_replicas: replicas,
        republish: { src: 'wa.>', dest: 'dws.wa.>' },
      }),
    );
  }
  close() {
    return this.nc.close();
  }
}

// ---------- servers ----------

let natsUrl = '';

function gatewayEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DAISI_WS_REDIS_ADDRESS: REDIS,
    DAISI_WS_NATS_URL: natsUrl,
    DAISI_WS_SERVER_GRPC_PORT: GRPC_PORT,
    DAISI_WS_AUTH_SECRET_TOKEN: KEYS.client,
    DAISI_WS_AUTH_ADMIN_SECRET_TOKEN: KEYS.admin,
    DAISI_WS_AUTH_TOKEN_AES_KEY: KEYS.aes,
    DAISI_WS_AUTH_ADMIN_TOKEN_AES_KEY: KEYS.adminAes,
    DAISI_WS_AUTH_TOKEN_GENERATION_SECRET: 'bench',
    ...(process.env.BENCH_GATEWAY_ENV ? JSON.parse(process.env.BENCH_GATEWAY_ENV) : {}),
    ...extra,
  };
}

/** With `--profile`, every server process (gateway pods and baselines) writes a CPU profile to bench/results/prof/. */
const profileArgs = () =>
  args.profile ? ['--cpu-prof', `--cpu-prof-dir=${new URL('./results/prof/', import.meta.url).pathname}`] : [];
const envArgs = (name: string) => process.env[name]?.split(' ').filter(Boolean) ?? [];
// e.g. BENCH_GATEWAY_NODE_ARGS=--perf-basic-prof, for `perf record -p <pid>` (symbols of JIT code);
// BENCH_BASELINE_NODE_ARGS gives the baselines flags of their own (the same V8 tuning, say).
const gatewayNodeArgs = () => [...profileArgs(), ...envArgs('BENCH_GATEWAY_NODE_ARGS')];
const baselineNodeArgs = () => [...profileArgs(), ...envArgs('BENCH_BASELINE_NODE_ARGS')];

interface Server extends Proc {
  ws: string;
  http: string;
  /** The other pods of the fleet scenario. */
  otherPids?: number[];
  heapBytes(): Promise<number>;
}

async function startServer(kind: Kind, reader = args['raw-reader']): Promise<Server> {
  if (kind === 'gateway') {
    const gw = await startGateway('127.0.0.2', gatewayEnv(), gatewayNodeArgs());
    return { ...gw, heapBytes: () => gatewayHeap(gw.http) };
  }
  const port = 16000 + Math.floor(Math.random() * 1000);
  const file = { raw: 'raw-ws.ts', sio: 'socketio.ts', contract: 'raw-contract.ts' }[kind];
  const proc = await startBaseline(
    file,
    port,
    { NATS_URL: natsUrl, REDIS_ADDRESS: REDIS, AES_KEY: KEYS.aes, CLIENT_KEY: KEYS.client, READER: reader },
    baselineNodeArgs(),
  );
  const statsUrl = kind === 'sio' ? `${proc.http}/stats` : proc.http;
  return { ...proc, heapBytes: async () => (await (await fetch(statsUrl)).json()).heapUsed };
}

async function gatewayHeap(http: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? NaN);
}

// ---------- scenarios ----------

type Row = {
  scenario: string;
  metric: string;
  unit: string;
  higherIsBetter: boolean;
  values: Partial<Record<Kind, number>>;
};
const rows: Row[] = [];
const record = (scenario: string, metric: string, unit: string, higherIsBetter: boolean, kind: Kind, value: number) => {
  let row = rows.find((r) => r.scenario === scenario && r.metric === metric);
  if (!row) {
    row = { scenario, metric, unit, higherIsBetter, values: {} };
    rows.push(row);
  }
  row.values[kind] = value;
};

let pub: Publisher;

/** The nats-server processes of the run: one, or the three of a cluster (their CPU is summed). */
let natsPids: number[] = [];
const redisPid = Number(spawnSync('pgrep', ['-o', 'redis-server']).stdout.toString().trim()) || 0;

/** CPU share of every process in the run, to see which one is the bottleneck. */
function cpuShares(server: Server) {
  const pids: Record<string, number> = { server: server.pid, redis: redisPid };
  for (const [i, pid] of natsPids.entries()) pids[natsPids.length > 1 ? `nats ${i + 1}` : 'nats'] = pid;
  for (const [i, pid] of (server.otherPids ?? []).entries()) pids[`pod ${i + 2}`] = pid;
  for (const [i, w] of workers.entries()) pids[`client${i + 1}`] = w.child.pid!;
  const read = (pid: number) => {
    if (!pid) return [0, 0, 0, 0, 0, 0];
    const io = ioCalls(pid);
    return [cpuSeconds(pid), kernelSeconds(pid), mainThreadSeconds(pid), io.reads, io.writes, minorFaults(pid)];
  };
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, read(pid)]));
  const self0 = process.cpuUsage();
  const t0 = Date.now();
  const share = (seconds: number, secs: number) => `${((seconds / secs) * 100).toFixed(0)}%`;
  return () => {
    const secs = (Date.now() - t0) / 1000;
    const out = Object.entries(pids).map(([k, pid]) => {
      const [cpu, kernel, main, reads, writes, faults] = read(pid).map((v, j) => v - before[k]![j]!);
      const calls =
        `${(reads! / secs).toFixed(0)} reads/s, ${(writes! / secs).toFixed(0)} writes/s, ` +
        `${(faults! / secs).toFixed(0)} page faults/s`;
      return (
        `${k} ${share(cpu!, secs)} (kernel ${share(kernel!, secs)}, other threads ` +
        `${share(cpu! - main!, secs)}; ${calls})`
      );
    });
    const self = process.cpuUsage(self0);
    out.push(`publisher ${(((self.user + self.system) / 1e6 / secs) * 100).toFixed(0)}%`);
    return out.join(', ');
  };
}

async function measureFanout(
  server: Server,
  company: string,
  rate: number,
  seconds: number,
  chatsPerAgent = CHATS_PER_AGENT,
  pad = PAD,
) {
  await all((w) => w.request({ cmd: 'reset' }, 'reset'));
  const shares = cpuShares(server);
  const pods = [server.pid, ...(server.otherPids ?? [])];
  const cpu0 = pods.map(cpuSeconds);
  const natsCpuNow = () => natsPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const nats0 = natsCpuNow();
  const t0 = Date.now();
  const out = await pub.run(company, rate, seconds, chatsPerAgent, pad);
  const natsCpu = natsCpuNow() - nats0;
  const reports = await all((w) => w.request({ cmd: 'report', published: out.published, since: t0 }, 'report'));
  const elapsed = (Date.now() - t0) / 1000;
  const podCpuSeconds = pods.map((pid, i) => cpuSeconds(pid) - cpu0[i]!);
  const cpu = podCpuSeconds.reduce((a, b) => a + b, 0) / elapsed;
  const delivered = reports.reduce((s, r) => s + r.delivered, 0);
  const latency = summarize(Float64Array.from(reports.flatMap((r) => r.latencies)));
  console.log(`  cpu: ${shares()}`);
  return {
    publishedRate: out.rate,
    deliveredPerSecond: delivered / seconds,
    latency,
    lost: reports.reduce((s, r) => s + r.lost, 0),
    duplicated: reports.reduce((s, r) => s + r.duplicated, 0),
    expected: reports.reduce((s, r) => s + r.expected, 0),
    cpu,
    /** Server CPU (all pods) per delivered frame. */
    cpuPerFrameUs: (podCpuSeconds.reduce((a, b) => a + b, 0) * 1e6) / Math.max(1, delivered),
    podCpuPerFrameUs: podCpuSeconds.map((c) => (c * 1e6) / Math.max(1, delivered / pods.length)),
    /** nats-server CPU per published event (storing it and delivering it to this server). */
    natsCpuPerEventUs: (natsCpu * 1e6) / Math.max(1, out.count),
  };
}

async function scenarioConnect(kind: Kind) {
  const server = await startServer(kind);
  const warmup = Number(process.env.BENCH_CONNECT_WARMUP ?? 0);
  if (warmup > 0) {
    await connectSessions(kind, sessions(kind, server, warmup, false, `warm${kind}`), 100);
    await closeSessions();
    await new Promise((r) => setTimeout(r, 2000));
  }
  const specs = sessions(kind, server, P.connectN, false, `conn${kind}`);
  const shares = cpuShares(server);
  const cpu0 = cpuSeconds(server.pid);
  const r = await connectSessions(kind, specs, 100);
  const cpuPerHandshakeUs = ((cpuSeconds(server.pid) - cpu0) / specs.length) * 1e6;
  console.log(`  cpu: ${shares()}`);
  const h = summarize(r.handshakes);
  console.log(
    `connect ${kind}: ${specs.length} sessions, ${r.failures} failed, ` +
      `${(specs.length / (r.ms / 1000)).toFixed(0)}/s, p50 ${h.p50.toFixed(1)} ms, p99 ${h.p99.toFixed(1)} ms, ` +
      `server CPU ${cpuPerHandshakeUs.toFixed(0)} µs per handshake`,
  );
  record('connect', `handshakes/s (${P.connectN} sessions)`, '/s', true, kind, specs.length / (r.ms / 1000));
  record('connect', 'server CPU per handshake', 'µs', false, kind, cpuPerHandshakeUs);
  record('connect', 'handshake p50', 'ms', false, kind, h.p50);
  record('connect', 'handshake p99', 'ms', false, kind, h.p99);
  record('connect', 'failed handshakes', '', false, kind, r.failures);
  await closeSessions();
  await server.stop();
}

async function scenarioFanout(kind: Kind) {
  const server = await startServer(kind);
  const tag = `fan${kind}`;
  await connectSessions(kind, sessions(kind, server, P.fanoutN, true, tag));
  await new Promise((r) => setTimeout(r, 1000));
  const m = await measureFanout(server, `${RUN}${tag}`, P.fanoutR, P.seconds);
  console.log(
    `fanout ${kind}: published ${m.publishedRate.toFixed(0)}/s, delivered ${m.deliveredPerSecond.toFixed(0)}/s, ` +
      `p50 ${m.latency.p50.toFixed(2)} p99 ${m.latency.p99.toFixed(2)} max ${m.latency.max.toFixed(1)} ms, lost ` +
      `${m.lost}/${m.expected}, dup ${m.duplicated}, cpu ${(m.cpu * 100).toFixed(0)}%`,
  );
  const s = `fan-out (${P.fanoutN} sessions, ${P.fanoutR} events/s)`;
  record(s, 'delivered events/s', '/s', true, kind, m.deliveredPerSecond);
  record(s, 'latency p50', 'ms', false, kind, m.latency.p50);
  record(s, 'latency p95', 'ms', false, kind, m.latency.p95);
  record(s, 'latency p99', 'ms', false, kind, m.latency.p99);
  record(s, 'latency max', 'ms', false, kind, m.latency.max);
  record(s, 'lost + duplicated', '', false, kind, m.lost + m.duplicated);
  record(s, 'server CPU', '%', false, kind, m.cpu * 100);
  await closeSessions();
  await server.stop();
  await pub.purge('wa_stream');
}

/**
 * Every measured step of every ramp, by `scenario|kind` and rate: the fleet is compared with one pod at equal rates.
 */
const measuredSteps: Record<string, Map<number, Awaited<ReturnType<typeof measureFanout>>>> = {};

async function ramp(
  kind: Kind,
  server: Server,
  company: string,
  steps: number[],
  scenario: string,
  chatsPerAgent = CHATS_PER_AGENT,
  atRates: number[] = [],
) {
  let sustainable = 0;
  let atSustainable: Awaited<ReturnType<typeof measureFanout>> | undefined;
  if (WARM_SECONDS > 0) {
    // A fleet starts three processes to one pod's: measured from their first second, it pays their
    // compilation and heap growth three times over in its first steps.
    await measureFanout(server, company, steps[0]!, WARM_SECONDS, chatsPerAgent);
    console.log(`${scenario} ${kind}: ${WARM_SECONDS} s at ${steps[0]}/s to warm up (not measured)`);
    await pub.purge('wa_stream');
  }
  for (const rate of steps) {
    const m = await measureFanout(server, company, rate, P.seconds, chatsPerAgent);
    if (atRates.includes(rate)) {
      record(scenario, `latency p99 at ${rate} events/s`, 'ms', false, kind, m.latency.p99);
      record(scenario, `server CPU per delivered frame at ${rate} events/s`, 'µs', false, kind, m.cpuPerFrameUs);
      record(scenario, `nats-server CPU per event at ${rate} events/s`, 'µs', false, kind, m.natsCpuPerEventUs);
    }
    measuredSteps[`${scenario}|${kind}`] ??= new Map();
    measuredSteps[`${scenario}|${kind}`]!.set(rate, m);
    const ok = m.latency.p99 <= 100 && m.lost === 0 && m.duplicated === 0 && m.publishedRate >= rate * 0.9;
    console.log(
      `${scenario} ${kind} @${rate}/s: published ${m.publishedRate.toFixed(0)}/s, delivered ` +
        `${m.deliveredPerSecond.toFixed(0)}/s, p50 ${m.latency.p50.toFixed(1)} p95 ${m.latency.p95.toFixed(1)} ` +
        `p99 ${m.latency.p99.toFixed(1)} ms, lost ${m.lost}, dup ${m.duplicated}, cpu ` +
        `${(m.cpu * 100).toFixed(0)}% → ${ok ? 'ok' : 'over'}`,
    );
    await pub.purge('wa_stream');
    if (!ok) break;
    sustainable = rate;
    atSustainable = m;
    await new Promise((r) => setTimeout(r, 500));
  }
  record(scenario, 'sustainable events/s (p99 ≤ 100 ms, no loss)', '/s', true, kind, sustainable);
  record(scenario, 'delivered events/s at that rate', '/s', true, kind, atSustainable?.deliveredPerSecond ?? 0);
  record(scenario, 'latency p99 at that rate', 'ms', false, kind, atSustainable?.latency.p99 ?? NaN);
  record(
    scenario,
    'server CPU per delivered frame at that rate',
    'µs',
    false,
    kind,
    atSustainable?.cpuPerFrameUs ?? NaN,
  );
  record(
    scenario,
    'nats-server CPU per event at that rate',
    'µs',
    false,
    kind,
    atSustainable?.natsCpuPerEventUs ?? NaN,
  );
  return { sustainable, atSustainable };
}

async function scenarioMax(kind: Kind) {
  const server = await startServer(kind);
  const tag = `max${kind}`;
  await connectSessions(kind, sessions(kind, server, P.fanoutN, true, tag));
  await new Promise((r) => setTimeout(r, 1000));
  const r = await ramp(kind, server, `${RUN}${tag}`, P.maxSteps, `max (${P.fanoutN} sessions)`);
  await closeSessions();
  if (r.sustainable > 0) {
    // Latency at half the sustainable rate (target: p99 ≤ 25 ms).
    await connectSessions(kind, sessions(kind, server, P.fanoutN, true, `${tag}h`));
    await new Promise((res) => setTimeout(res, 1000));
    const m = await measureFanout(server, `${RUN}${tag}h`, r.sustainable / 2, P.seconds);
    console.log(`half-rate ${kind} @${r.sustainable / 2}/s: p99 ${m.latency.p99.toFixed(2)} ms`);
    record(`max (${P.fanoutN} sessions)`, 'latency p99 at half that rate', 'ms', false, kind, m.latency.p99);
    await closeSessions();
  }
  await server.stop();
  await pub.purge('wa_stream');
}

/** A server with the own-chats workload's sessions connected (100 agents × 10 chats, each session its own chat). */
async function ownChatsServer(kind: Kind, tag: string): Promise<Server> {
  const server = await startServer(kind);
  await connectSessions(kind, sessions(kind, server, P.fanoutN, true, tag, 10));
  await new Promise((r) => setTimeout(r, 1000));
  return server;
}

/**
 * Issue 13's workload: 1,000 sessions over 100 agents × 10 chats, every session viewing a chat of
 * its own; half the events go to chat lists (10 sessions each), half to chats (1 session).
 */
async function scenarioChats(kind: Kind) {
  const tag = `chats${kind}`;
  const server = await ownChatsServer(kind, tag);
  const steps = args.steps
    ? P.maxSteps
    : QUICK
      ? [500, 1000, 2000]
      : [500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000];
  await ramp(
    kind,
    server,
    `${RUN}${tag}`,
    steps,
    `own chats (${P.fanoutN} sessions, 100 agents × 10 chats)`,
    10,
    [500, 1000, 2000, 4000],
  );
  await closeSessions();
  await server.stop();
  await pub.purge('wa_stream');
}

/**
 * Large events (docs: README, *Bounds*): the chats workload with payloads of ~120 bytes, 100 KB and
 * 400 KB at rates the machine takes, each step's p99 and the server's RSS after it (and its peak,
 * sampled every 100 ms) beside the small events'. The gateway's history holds at most
 * app.resume_max_bytes (64 MiB) whatever the events.
 */
async function scenarioLarge(kind: Kind) {
  const tag = `large${kind}`;
  const server = await ownChatsServer(kind, tag);
  const rss0 = rssBytes(server.pid);
  const steps: Array<[string, number, number]> = QUICK
    ? [
        ['120 B', 200, 120],
        ['100 KB', 40, 100_000],
        ['400 KB', 10, 400_000],
      ]
    : [
        ['120 B', 500, 120],
        ['100 KB', 100, 100_000],
        ['400 KB', 25, 400_000],
      ];
  for (const [label, rate, bytes] of steps) {
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(server.pid))), 100);
    const m = await measureFanout(server, `${RUN}${tag}`, rate, P.seconds, 10, 'x'.repeat(bytes));
    clearInterval(sampler);
    const rss = rssBytes(server.pid);
    const mib = (b: number) => (b / 1048576).toFixed(0);
    console.log(
      `large ${kind} ${label} at ${rate}/s: delivered ${m.deliveredPerSecond.toFixed(0)}/s, p50 ` +
        `${m.latency.p50.toFixed(2)} p99 ${m.latency.p99.toFixed(2)} ms, lost ${m.lost}/${m.expected}, RSS ` +
        `${mib(rss)} MiB (peak ${mib(peak)}, ${mib(rss0)} before)`,
    );
    const s = `large events (${P.fanoutN} sessions, own chats)`;
    record(s, `${label} at ${rate}/s: latency p99`, 'ms', false, kind, m.latency.p99);
    record(s, `${label} at ${rate}/s: RSS after`, 'MiB', false, kind, rss / 1048576);
    record(s, `${label} at ${rate}/s: RSS peak`, 'MiB', false, kind, peak / 1048576);
    record(s, `${label} at ${rate}/s: lost + duplicated`, '', false, kind, m.lost + m.duplicated);
  }
  await closeSessions();
  await server.stop();
  await pub.purge('wa_stream');
}

async function scenarioIdle(kind: Kind) {
  for (const n of P.idleNs) {
    const server = await startServer(kind);
    await new Promise((r) => setTimeout(r, 1000));
    // From a collected start (what start-up left lying about is not the sessions').
    await collectGarbage(server.pid);
    const [rss0, heap0] = [rssBytes(server.pid), await server.heapBytes()];
    const r = await connectSessions(kind, sessions(kind, server, n, false, `idle${kind}${n}`), 100);
    await new Promise((res) => setTimeout(res, Number(process.env.BENCH_IDLE_SETTLE_MS ?? 3000)));
    const rss1 = rssBytes(server.pid);
    const heap1 = await server.heapBytes();
    // And what the sessions hold: after a full collection, against the baseline after one.
    await collectGarbage(server.pid);
    await new Promise((res) => setTimeout(res, 1000));
    const [rss2, heap2] = [rssBytes(server.pid), await server.heapBytes()];
    const perSession = (bytes: number) => bytes / n / 1024;
    console.log(
      `idle ${kind} ${n}: rss +${((rss1 - rss0) / 1048576).toFixed(1)} MiB (${perSession(rss1 - rss0).toFixed(1)} ` +
        `KiB/session), heap +${perSession(heap1 - heap0).toFixed(1)} KiB/session; after a full GC rss ` +
        `${perSession(rss2 - rss0).toFixed(1)}, heap ${perSession(heap2 - heap0).toFixed(1)} KiB/session; failed ` +
        `${r.failures}`,
    );
    record(`idle (${n} sessions)`, 'RSS per session', 'KiB', false, kind, perSession(rss1 - rss0));
    record(`idle (${n} sessions)`, 'heap per session', 'KiB', false, kind, perSession(heap1 - heap0));
    record(`idle (${n} sessions)`, 'RSS per session after a full GC', 'KiB', false, kind, perSession(rss2 - rss0));
    record(`idle (${n} sessions)`, 'heap per session after a full GC', 'KiB', false, kind, perSession(heap2 - heap0));
    await closeSessions();
    await server.stop();
  }
}

/**
 * What a pod pays for an event none of its sessions wants (docs/architecture.md, *How an event travels*): 1,000
 * sessions of one company, 100,000 events of ~250 bytes published to another company's subjects. The pod's CPU while it
 * reads them, less its idle CPU over the same time, divided by the events. Two ways: `live` — published while the pod
 * reads (each event arrives on its own, as in a fleet under load); `backlog` — published while the pod is stopped
 * (SIGSTOP), then read as stored events, the method of the issue's ~8 µs figure for the client library. Both with
 * stream reading, where the pod reads every event; with interest reading (the default) NATS does not send the pod
 * such events at all, and `live, interest reading` is the pod's CPU over the publishing (and a second after) less idle.
 * `bench/reader-cost.ts` measures the same without the gateway process around the reader.
 */
async function scenarioFilter() {
  await filterInterest();
  const gw = await startGateway('127.0.0.2', gatewayEnv({ DAISI_WS_NATS_READ_MODE: 'stream' }), gatewayNodeArgs());
  const server: Server = { ...gw, heapBytes: () => gatewayHeap(gw.http) };
  const idlePerSecond = await viewedAndIdle(server, 'filterviewed');
  const count = FILTER_COUNT();
  let scrapes = 0;
  const received = async () => {
    scrapes++;
    return Number(
      /^dws_nats_messages_received_total\{nats_subject="wa.\*.\*.chats"\} (\S+)/m.exec(
        await (await fetch(`${server.http}/metrics`)).text(),
      )?.[1] ?? 0,
    );
  };
  // The pod's CPU for one /metrics scrape (how this scenario sees its progress), to take it out.
  const scrape0 = cpuSeconds(server.pid);
  const scrapeT0 = Date.now();
  for (let i = 0; i < 20; i++) await received();
  const cpuPerScrape = (cpuSeconds(server.pid) - scrape0 - idlePerSecond * ((Date.now() - scrapeT0) / 1000)) / 20;
  const publishAll = (tag: string) => publishNobody(tag, count);
  for (const mode of ['live', 'backlog'] as const) {
    const before = await received();
    if (mode === 'backlog') {
      process.kill(server.pid, 'SIGSTOP');
      await publishAll(mode);
      process.kill(server.pid, 'SIGCONT');
    }
    const cpu0 = cpuSeconds(server.pid);
    const t0 = Date.now();
    if (mode === 'live') await publishAll(mode);
    scrapes = 0;
    while ((await received()) - before < count) await new Promise((r) => setTimeout(r, 200));
    const elapsed = (Date.now() - t0) / 1000;
    const cpu = cpuSeconds(server.pid) - cpu0 - idlePerSecond * elapsed - cpuPerScrape * scrapes;
    const us = (cpu * 1e6) / count;
    console.log(
      `filter ${mode}: ${count} events nobody on the pod views read in ${elapsed.toFixed(1)} s ` +
        `(${(count / elapsed).toFixed(0)}/s): pod CPU ${us.toFixed(1)} µs per event (idle ` +
        `${(idlePerSecond * 100).toFixed(1)}% and ${scrapes} scrapes of ${(cpuPerScrape * 1000).toFixed(1)} ms ` +
        `subtracted)`,
    );
    recordFilter(`${mode}, stream reading`, us);
  }
  await endScenario(server);
}

const FILTER_COUNT = () => (QUICK ? 30_000 : 100_000);

/** Events of a company no session anywhere views (the filter scenario). */
async function publishNobody(tag: string, count: number) {
  const body = 'y'.repeat(150);
  const inflight: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i++) {
    const subject = `wa.${RUN}nobody.a${i % AGENTS}.chats`;
    inflight.push(
      pub.publishRaw(
        subject,
        `{"event_id":"${tag}-${i}","event_time":"2026-11-26T10:00:00Z","company_id":"${RUN}nobody",` +
          `"row_data":{"text":"${body}"}}`,
      ),
    );
    if (inflight.length >= 2000) await inflight.shift();
  }
  await Promise.all(inflight);
}

/** Connects the filter scenario's sessions (of a company the events are not for); the pod's idle CPU a second. */
async function viewedAndIdle(server: Server, tag: string): Promise<number> {
  await connectSessions('gateway', sessions('gateway', server, P.fanoutN, true, tag));
  await new Promise((r) => setTimeout(r, 2000));
  const idle0 = cpuSeconds(server.pid);
  await new Promise((r) => setTimeout(r, 3000));
  return (cpuSeconds(server.pid) - idle0) / 3;
}

/** The filter scenario with interest reading: what the pod spends while other companies' events flow. */
async function filterInterest() {
  const server = await startServer('gateway');
  const idlePerSecond = await viewedAndIdle(server, 'filterinterest');
  const count = FILTER_COUNT();
  const cpu0 = cpuSeconds(server.pid);
  const t0 = Date.now();
  await publishNobody('interest', count);
  await new Promise((r) => setTimeout(r, 1000));
  const elapsed = (Date.now() - t0) / 1000;
  const us = ((cpuSeconds(server.pid) - cpu0 - idlePerSecond * elapsed) * 1e6) / count;
  console.log(
    `filter live, interest reading: ${count} events nobody on the pod views published in ${elapsed.toFixed(1)} s: ` +
      `pod CPU ${us.toFixed(2)} µs per event (idle ${(idlePerSecond * 100).toFixed(1)}% subtracted)`,
  );
  recordFilter('live, interest reading', us);
  await endScenario(server);
}

const recordFilter = (how: string, us: number) =>
  record('filter (events no session on the pod wants)', `pod CPU per event, ${how}`, 'µs', false, 'gateway', us);

async function endScenario(server: Server) {
  await closeSessions();
  await server.stop();
  await pub.purge('wa_stream');
}

/**
 * The fleet of three pods on nats-server 2.10, one server and then a three-server JetStream cluster
 * with the stream at three replicas (docs/deploy.md), in the same run: what the clustered set-up
 * costs in sustainable rate, p99 and nats-server CPU per event (every copy of the stream counted).
 */
async function scenarioFleetCluster() {
  const binary = nats210();
  if (!binary) return console.log('fleet-cluster: skipped (no nats-server 2.10: scripts/fetch-nats-2.10.sh)');
  const saved = { natsUrl, natsPids, pub };
  try {
    for (const clustered of [false, true]) {
      const deps = clustered ? await TestNatsCluster.start(binary) : await TestNatsServer.start([], binary);
      natsUrl = deps.url;
      natsPids = deps instanceof TestNatsCluster ? deps.pids : [deps.pid];
      pub = await Publisher.connect(natsUrl);
      await pub.ensureStream('wa_stream', clustered ? 3 : 1);
      const label = clustered
        ? `fleet of 3 pods on a three-server JetStream cluster (R3, nats-server 2.10; ${P.fanoutN} sessions)`
        : `fleet of 3 pods on one nats-server 2.10 (${P.fanoutN} sessions)`;
      try {
        await scenarioFleet('gateway', 3, 'spread', P.maxSteps, label);
      } finally {
        await pub.close();
        await deps.stop();
      }
    }
  } finally {
    ({ natsUrl, natsPids, pub } = saved);
  }
}

/**
 * The fleet (docs/architecture.md, *How an event travels*): pods on the same two cores. `spread`: every pod holds
 * sessions of every agent (overlapping interest: each pod receives every event); `disjoint`: each agent's sessions
 * on one pod (a load balancer hashing the path), so that with interest reading each pod receives only its agents'
 * events. Sustainable rate and CPU per delivered frame, beside one pod's (the `max` scenario, when it ran too) and at
 * every rate both reached. With `raw` among the kinds, raw `ws` broadcasters placed the same way — each reading every
 * event (spread) or only its own agents' republished subjects (disjoint): what the structure costs on these cores
 * before anything the gateway does.
 */
async function scenarioFleet(
  kind: Kind,
  podCount: number,
  placement: 'spread' | 'disjoint',
  steps: number[],
  label?: string,
) {
  const pods: Server[] = [];
  const hosts = Array.from({ length: podCount }, (_, i) => `127.0.0.${i + 2}`);
  if (kind === 'gateway') {
    for (const gw of await Promise.all(hosts.map((host) => startGateway(host, gatewayEnv(), gatewayNodeArgs()))))
      pods.push({ ...gw, heapBytes: () => gatewayHeap(gw.http) });
  } else
    for (let i = 0; i < podCount; i++)
      pods.push(await startServer(kind, placement === 'disjoint' ? 'interest' : undefined));
  const server: Server = { ...pods[0]!, otherPids: pods.slice(1).map((p) => p.pid) };
  const tag = `fleet${podCount}${placement}${kind}`;
  const specs = sessions(kind, pods[0]!, P.fanoutN, true, tag).map((spec, j) => {
    // Disjoint: agents in contiguous blocks, as the publisher alternates chat-list (even agents) and chat events (odd).
    const at = placement === 'spread' ? Math.floor(j / AGENTS) : Math.floor(((j % AGENTS) * podCount) / AGENTS);
    const pod = pods[at % pods.length]!;
    return { ...spec, url: spec.url.replace(pods[0]!.ws, pod.ws) };
  });
  await connectSessions(kind, specs);
  await new Promise((r) => setTimeout(r, 1000));
  const scenario =
    label ??
    (placement === 'spread'
      ? `fleet (${P.fanoutN} sessions over ${podCount} pods)`
      : `fleet, disjoint interest (${P.fanoutN} sessions, each agent on one of ${podCount} pods)`);
  const r = await ramp(kind, server, `${RUN}${tag}`, steps, scenario);
  if (r.atSustainable) {
    const perPod = r.atSustainable.podCpuPerFrameUs.map((u) => u.toFixed(1)).join(' / ');
    console.log(
      `${scenario} ${kind} sustainable ${r.sustainable}/s; CPU per delivered frame ` +
        `${r.atSustainable.cpuPerFrameUs.toFixed(1)} µs (per pod ${perPod})`,
    );
  }
  const single = measuredSteps[`max (${P.fanoutN} sessions)|${kind}`];
  if (single) {
    const fleet = measuredSteps[`${scenario}|${kind}`]!;
    const ratios = [...fleet]
      .filter(([rate]) => single.has(rate))
      .map(([rate, m]) => [rate, m.cpuPerFrameUs / single.get(rate)!.cpuPerFrameUs] as const);
    console.log(
      `${scenario} ÷ one pod, ${kind}: CPU per delivered frame at equal rates ` +
        `${ratios.map(([rate, x]) => `${rate}: ${x.toFixed(2)}×`).join(', ') || '(no rate in both)'}`,
    );
    const one = rows.find(
      (row) => row.scenario === `max (${P.fanoutN} sessions)` && row.metric.startsWith('sustainable'),
    )?.values[kind];
    if (one) record(scenario, 'sustainable events/s, fleet ÷ one pod (max)', '×', true, kind, r.sustainable / one);
    for (const [rate, x] of ratios)
      record(scenario, `CPU per delivered frame at ${rate} events/s, fleet ÷ one pod`, '×', false, kind, x);
  }
  await closeSessions();
  await Promise.all(pods.map((p) => p.stop()));
  await pub.purge('wa_stream');
}

/**
 * Resume (docs/protocol.md, *Resume*): a client misses 10,000 events of its chat list and comes back with `since`;
 * the time from its upgrade request to the `resumed` frame, served from the pod's memory and
 * (with the memory history off) from the stream.
 */
async function scenarioResume() {
  const { default: WebSocket } = await import('ws');
  const missed = 10_000;
  for (const source of ['memory', 'stream'] as const) {
    const gw = await startGateway(
      '127.0.0.2',
      gatewayEnv(source === 'stream' ? { DAISI_WS_APP_RESUME_MAX_EVENTS: '0' } : {}),
    );
    const [spec] = sessions('gateway', gw, 1, false, `resume${source}`);
    const open = (url: string) =>
      new Promise<{ ws: InstanceType<typeof WebSocket>; frames: string[]; resumed: Promise<number> }>(
        (resolve, reject) => {
          const ws = new WebSocket(url, ['json.v1'], { perMessageDeflate: false });
          const frames: string[] = [];
          let done!: (at: number) => void;
          const resumed = new Promise<number>((r) => (done = r));
          ws.on('message', (d) => {
            const text = d.toString();
            frames.push(text);
            if (text.startsWith('{"type":"ready"')) resolve({ ws, frames, resumed });
            if (text.startsWith('{"type":"resumed"') || text.startsWith('{"type":"error"')) done(nowMs());
          });
          ws.on('error', reject);
        },
      );
    const first = await open(spec!.url);
    const epoch = JSON.parse(first.frames[0]!).payload.epoch as string;
    first.ws.terminate();
    const subject = `wa.${spec!.company}.${spec!.agent}.chats`;
    const inflight: Array<Promise<unknown>> = [];
    let since = 0;
    for (let i = 0; i < missed; i++) {
      const ack = pub.publishRaw(
        subject,
        `{"event_id":"r-${i}","event_time":"2026-11-26T10:00:00Z","company_id":"${spec!.company}",` +
          `"row_data":{"text":"${PAD}"}}`,
      );
      if (i === 0) since = (await ack).seq - 1;
      inflight.push(ack);
      if (inflight.length >= 2000) await inflight.shift();
    }
    await Promise.all(inflight);
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = nowMs();
    const back = await open(`${spec!.url}&since=${since}&epoch=${encodeURIComponent(epoch)}`);
    const ms = (await back.resumed) - t0;
    const events = back.frames.filter((f) => f.startsWith('{"type":"event"')).length;
    console.log(
      `resume from ${source}: ${events} missed events replayed in ${ms.toFixed(0)} ms ` +
        `(${back.frames.at(-1)!.slice(0, 80)})`,
    );
    record(`resume (${missed} missed events)`, `upgrade to "resumed", from ${source}`, 'ms', false, 'gateway', ms);
    back.ws.terminate();
    await gw.stop();
    await pub.purge('wa_stream');
  }
}

// ---------- report ----------

function fmt(v: number | undefined, unit: string): string {
  if (v === undefined || Number.isNaN(v)) return '—';
  const digits = unit === '×' ? 2 : unit === 'ms' ? (v < 10 ? 2 : 1) : unit === 'KiB' || unit === 'µs' ? 1 : 0;
  return `${v.toFixed(digits)}${unit === '×' ? '×' : unit && unit !== '/s' ? ` ${unit}` : ''}`;
}

function ratio(row: Row, base: Kind): string {
  const g = row.values.gateway;
  const b = row.values[base];
  if (g === undefined || b === undefined || !b || Number.isNaN(g) || Number.isNaN(b)) return '—';
  return `${(g / b).toFixed(2)}×`;
}

function markdown(): string {
  const lines = [
    '| scenario | metric | gateway | raw ws | Socket.IO + Redis | raw ws + contract | gateway ÷ raw | gateway ÷ ' +
      'Socket.IO | gateway ÷ raw + contract |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const v = row.values;
    lines.push(
      `| ${row.scenario} | ${row.metric} | ${fmt(v.gateway, row.unit)} | ${fmt(v.raw, row.unit)} | ` +
        `${fmt(v.sio, row.unit)} | ${fmt(v.contract, row.unit)} | ${ratio(row, 'raw')} | ${ratio(row, 'sio')} | ` +
        `${ratio(row, 'contract')} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const started = Date.now();
  console.log(
    `daisi-ws bench ${QUICK ? '--quick ' : ''}scenarios=${[...SCENARIOS].join(',')} params=${JSON.stringify(P)}`,
  );
  console.log(`machine: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
  if (!args['no-build']) spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const nats = await startNats();
  natsUrl = nats.url;
  natsPids = [nats.pid];
  pub = await Publisher.connect(natsUrl);
  await pub.ensureStream('wa_stream');
  workers = await Promise.all([Worker.start(), Worker.start()]);
  try {
    for (const kind of KINDS) if (SCENARIOS.has('connect')) await scenarioConnect(kind);
    for (const kind of EVENT_KINDS) if (SCENARIOS.has('fanout')) await scenarioFanout(kind);
    for (const kind of EVENT_KINDS) if (SCENARIOS.has('max')) await scenarioMax(kind);
    for (const kind of EVENT_KINDS) if (SCENARIOS.has('chats')) await scenarioChats(kind);
    for (const kind of EVENT_KINDS) if (SCENARIOS.has('large')) await scenarioLarge(kind);
    for (const kind of KINDS) if (SCENARIOS.has('idle')) await scenarioIdle(kind);
    if (SCENARIOS.has('filter')) await scenarioFilter();
    if (SCENARIOS.has('resume')) await scenarioResume();
    for (const kind of EVENT_KINDS)
      if (kind !== 'sio' && (SCENARIOS.has('crosspod') || SCENARIOS.has('fleet')))
        await scenarioFleet(kind, 3, 'spread', P.maxSteps);
    for (const kind of EVENT_KINDS) {
      if (kind === 'sio') continue;
      if (SCENARIOS.has('fleet-disjoint')) await scenarioFleet(kind, 3, 'disjoint', P.maxSteps);
      // Six pods on two cores: each gets less of the machine, so the ramp starts lower.
      if (SCENARIOS.has('fleet6'))
        await scenarioFleet(
          kind,
          6,
          'disjoint',
          P.maxSteps.map((r) => r / 2),
        );
    }
    if (SCENARIOS.has('fleet-cluster')) await scenarioFleetCluster();
    if (SCENARIOS.has('cdc'))
      cdcFigures = cdcTable(await scenarioCdc(QUICK ? 20_000 : 50_000, [1000, 5000], QUICK ? 3 : 5));
  } finally {
    for (const w of workers) w.child.send({ cmd: 'exit' });
    await pub.close();
    await nats.stop();
  }
  const table = markdown();
  console.log(
    `\n${table}\n${cdcFigures ? `\n${cdcFigures}\n` : ''}\n(${((Date.now() - started) / 1000).toFixed(0)} s)`,
  );
  const dir = new URL('./results/', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${new Date().toISOString().replace(/[:.]/g, '-')}${QUICK ? '-quick' : ''}.json`;
  writeFileSync(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        quick: QUICK,
        params: P,
        machine: { cores: cpus().length, memory: totalmem(), node: process.version },
        rows,
      },
      null,
      2,
    ),
  );
  writeFileSync(`${dir}latest${QUICK ? '-quick' : ''}.md`, `${table}\n`);
  console.log(`results: ${file}`);
  process.exit(0);
}

await main();
