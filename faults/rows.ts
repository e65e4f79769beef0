import { GoReplicaClient, pushRequestOf } from '../test/helpers/go-replica.js';
import type { ClientReport } from './client-host.js';
import { Clients, FaultEnv, Load, sessionsFor, sleep, type Published, type Session } from './harness.js';
import { CdcFront, CdcLoad } from './cdc-front.js';
import { BlackHoleProxy } from './proxy.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePortNumber } from '../test/helpers/env.js';
import { rssOf } from '../test/helpers/proc.js';
import { TestPublisher } from '../test/helpers/publisher.js';

/** What a row does to the fleet while the load runs; resolves with when the fault was over. */
interface FaultContext {
  env: FaultEnv;
  clients: Clients;
  sessions: Session[];
  short: boolean;
  /** Sessions whose home pod is `i`. */
  on(i: number): Session[];
}

export interface Row {
  name: string;
  title: string;
  /** Part of the short run (CI). */
  short?: boolean;
  /** Sessions homed on the first pod, besides the 12 spread over every pod. */
  crowd?: number;
  /** Events per second of the load. */
  rate?: number;
  padBytes?: number;
  /** More settings of every pod in this row. */
  podEnv?: Record<string, string>;
  /** More flags of the row's nats-server. */
  natsArgs?: () => string[];
  /** How long the clients wait in silence before they take a connection for lost (4 s). */
  clientSilenceMs?: number;
  /** On a three-server JetStream cluster and Redis with Sentinel (needs nats-server 2.10). */
  clustered?: true;
  /** Sessions spread over every pod (12), and over how many agents (3) and chats (1). */
  spread?: number;
  agents?: number;
  chats?: number;
  /** Needs PostgreSQL 15's binaries (the CDC rows); skipped without them. */
  postgres?: true;
  /** Set-up before the sessions open (a proxy in front of a pod). */
  prepare?(env: FaultEnv): Promise<Prepared>;
  fault(
    ctx: FaultContext,
    extra: Record<string, unknown>,
  ): Promise<{ endedAt: number; note?: string; problems?: string[] }>;
}

/** Where a row's events come from: publishes to NATS (Load), or rows committed in Postgres (CdcLoad). */
interface EventSource {
  start(subjects: string[], perSecond: number, onAck?: (p: Published) => void, padBytes?: number): void | Promise<void>;
  stop(): Promise<Published[]>;
}

/** What a row set up: sessions' routes through a proxy, a hook on each acknowledged event, and more for its fault. */
interface Prepared {
  via?: (pod: number) => string | undefined;
  onAck?: (p: Published) => void;
  cleanup?: () => void | Promise<void>;
  /** Events come from here rather than from publishes to NATS (the CDC rows: rows committed in Postgres). */
  load?: EventSource;
  /** What went wrong before the clients (the CDC rows: what the stream holds). */
  problems?: () => string[];
  [more: string]: unknown;
}

export interface RowResult {
  row: string;
  title: string;
  sessions: number;
  published: number;
  /** Deliveries the sessions were owed: each session's events of its subjects. */
  expected: number;
  delivered: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  reconnects: number;
  recoveryMs: number;
  note: string;
  ok: boolean;
}

/** A server killed, then started again (on the same port and, for NATS, the same store) 2 s later. */
async function killAndRestart(server: { kill(): Promise<void>; run(): Promise<void> }): Promise<{ endedAt: number }> {
  await server.kill();
  await sleep(2000);
  await server.run();
  return { endedAt: Date.now() };
}

/** The first pod SIGKILLed (the fault is over when it is gone: its sessions resume elsewhere), then started again. */
async function killFirstPod(env: FaultEnv): Promise<{ endedAt: number }> {
  await env.pods[0]!.kill();
  const endedAt = Date.now();
  await env.startPod(0);
  return { endedAt };
}

/** A server paused with SIGSTOP for 5 s (3 s in the short run). */
async function pause(server: { signal(s: 'SIGSTOP' | 'SIGCONT'): void }, short: boolean): Promise<{ endedAt: number }> {
  server.signal('SIGSTOP');
  await sleep(short ? 3000 : 5000);
  server.signal('SIGCONT');
  return { endedAt: Date.now() };
}

const MiB = 1024 * 1024;
const BURST_HISTORY_BYTES = 32 * MiB;

/**
 * 1,000 events of 400 KB to subjects no session views, while the load runs: every pod reads them.
 * Resolves with how far each pod's RSS rose above where it was before the burst, at most.
 */
async function largeBurst(env: FaultEnv): Promise<number[]> {
  const pids = env.pods.map((p) => p.process.pid!);
  const before = pids.map(rssOf);
  const peak = [...before];
  const sampler = setInterval(() => {
    for (const [i, pid] of pids.entries()) peak[i] = Math.max(peak[i]!, rssOf(pid));
  }, 100);
  const pub = await TestPublisher.connect(env.natsUrl);
  const pad = 'x'.repeat(400 * 1024);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < 1000; i = next++)
      await pub.publish(
        `wa.burst.a${i % 20}.messages.m${i % 5}`,
        `{"event_id":"burst-${i}","row_data":{"pad":"${pad}"}}`,
      );
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await pub.close();
  await sleep(1500);
  clearInterval(sampler);
  return peak.map((p, i) => p - before[i]!);
}

/** A nats-server that cuts off a client 1 MiB or 1 s behind (a slow consumer), with monitoring on `port`. */
function slowConsumerNats(port: number): string[] {
  const file = join(mkdtempSync(join(tmpdir(), 'dws-nats-conf-')), 'nats.conf');
  writeFileSync(file, 'max_pending: 1048576\nmax_payload: 524288\nwrite_deadline: "1s"\n');
  return ['-c', file, '-m', String(port)];
}

async function slowConsumers(port: number): Promise<number> {
  return ((await (await fetch(`http://127.0.0.1:${port}/varz`)).json()) as { slow_consumers: number }).slow_consumers;
}

const monitorPort = freePortNumber();

/** The CDC rows' set-up: Postgres, an active and a standby bridge, and rows committed as the load. */
async function cdcFront(env: FaultEnv): Promise<Prepared> {
  const front = await CdcFront.start(env);
  const load = new CdcLoad(front);
  return { front, load, problems: () => load.problems, cleanup: () => front.stop() };
}
const frontOf = (extra: Record<string, unknown>) => extra.front as CdcFront;

/** The clustered rows (issue 39): 300 sessions over 10 agents and 5 chats, 500 events/s, on an R3 stream. */
const CLUSTERED = { clustered: true, spread: 300, agents: 10, chats: 5, rate: 500 } as const;
const STREAM = 'wa_stream';

/**
 * Server `i` killed and started again after `downMs`, once the stream has caught up on it. The fault
 * is over for the clients when a server leads the stream (i's peers, or i itself if it did not lead).
 */
async function killServer(env: FaultEnv, i: number, downMs: number): Promise<{ endedAt: number; note: string }> {
  const cluster = env.cluster;
  const killedAt = Date.now();
  await cluster.kill(i);
  const leader = await cluster.leaderOf(STREAM, i);
  const electedMs = Date.now() - killedAt;
  const endedAt = Date.now();
  await sleep(Math.max(0, downMs - electedMs));
  await cluster.run(i);
  await cluster.caughtUp(STREAM);
  const note = `${cluster.nodes[leader]!.name} led the stream (STREAM.INFO answered) ${electedMs} ms after the kill`;
  return { endedAt, note };
}

/** Sessions' connections dropped one after another (each resumes on the next pod: a new handshake, a new lock). */
async function churn(clients: Clients, sessions: Session[], untilDone: Promise<unknown>): Promise<number> {
  let hops = 0;
  let done = false;
  void untilDone.finally(() => {
    done = true;
  });
  for (let i = 0; !done; i++) {
    await clients.hop(sessions[(i * 7) % sessions.length]!.spec.id);
    hops++;
    await sleep(100);
  }
  return hops;
}

export const ROWS: Row[] = [
  {
    name: 'redis-kill',
    title: 'Redis killed (SIGKILL) and restarted empty after 2 s',
    short: true,
    fault: ({ env }) => killAndRestart(env.redis),
  },
  { name: 'redis-pause', title: 'Redis paused (SIGSTOP) 5 s', fault: ({ env, short }) => pause(env.redis, short) },
  {
    name: 'nats-kill',
    title: 'nats-server killed (SIGKILL) and restarted on its store after 2 s',
    short: true,
    fault: ({ env }) => killAndRestart(env.nats),
  },
  { name: 'nats-pause', title: 'nats-server paused (SIGSTOP) 5 s', fault: ({ env, short }) => pause(env.nats, short) },
  {
    name: 'pod-kill',
    title: 'a pod SIGKILLed (its sessions resume on the others), started again',
    short: true,
    fault: ({ env }) => killFirstPod(env),
  },
  {
    name: 'pod-pause',
    title: 'a pod SIGSTOPped 10 s',
    async fault({ env, short }) {
      env.pods[0]!.process.kill('SIGSTOP');
      await sleep(short ? 5000 : 10_000);
      env.pods[0]!.process.kill('SIGCONT');
      return { endedAt: Date.now() };
    },
  },
  {
    name: 'nats-slow-consumer',
    title:
      'a pod SIGSTOPped until nats-server cuts it off as a slow consumer (its clients stay); it reads what it missed',
    short: true,
    rate: 300,
    padBytes: 16 * 1024,
    clientSilenceMs: 15_000,
    natsArgs: () => slowConsumerNats(monitorPort),
    async fault({ env }) {
      const before = await slowConsumers(monitorPort);
      env.pods[0]!.process.kill('SIGSTOP');
      const stoppedAt = Date.now();
      while ((await slowConsumers(monitorPort)) === before && Date.now() - stoppedAt < 8000) await sleep(200);
      const cutOffMs = Date.now() - stoppedAt;
      const cut = (await slowConsumers(monitorPort)) > before;
      await sleep(1000);
      env.pods[0]!.process.kill('SIGCONT');
      const endedAt = Date.now();
      await sleep(1500);
      const caughtUp = env.pods[0]!.output.filter((l) => l.includes('"stream reader starts over')).length;
      const problems = [
        ...(cut ? [] : ['nats-server did not cut the paused pod off as a slow consumer within 8 s']),
        ...(caughtUp > 0 ? [] : ['the pod did not read again what it missed']),
      ];
      const note = cut ? `cut off as a slow consumer ${cutOffMs} ms after SIGSTOP, then read again` : 'not cut off';
      return { endedAt, note, problems };
    },
  },
  {
    name: 'interest-churn',
    title:
      "subscriptions added and dropped under 300 events/s: clients' connections drop every 250 ms, each resumes " +
      'on the next pod, which subscribes anew (no linger)',
    short: true,
    rate: 300,
    podEnv: { DAISI_WS_NATS_INTEREST_LINGER_SECONDS: '0' },
    async fault({ clients, sessions, short }) {
      let hops = 0;
      const until = Date.now() + (short ? 4000 : 8000);
      for (let i = 0; Date.now() < until; i++) {
        await clients.hop(sessions[(i * 5) % sessions.length]!.spec.id);
        hops++;
        await sleep(250);
      }
      return { endedAt: Date.now(), note: `${hops} connections dropped and resumed elsewhere` };
    },
  },
  {
    name: 'rolling-restart',
    title: 'rolling restart of every pod under load (SIGTERM, start again)',
    async fault({ env }) {
      for (let i = 0; i < env.pods.length; i++) {
        await env.pods[i]!.stop();
        await env.startPod(i);
        await sleep(1000);
      }
      return { endedAt: Date.now() };
    },
  },
  {
    name: 'storm',
    title: 'reconnect storm: the pod of 1,000 more sessions SIGKILLed, all resume on the others',
    crowd: 1000,
    fault: ({ env }) => killFirstPod(env),
  },
  {
    name: 'stalled-client',
    title: 'a client stops reading for 8 s (disconnected as slow, then resumes)',
    padBytes: 4096,
    async fault({ clients, on }) {
      const victim = on(0)[0]!;
      await clients.stall(victim.spec.id, 8000);
      await sleep(8000);
      return { endedAt: Date.now() };
    },
  },
  {
    name: 'half-open',
    title: 'half-open clients: a proxy drops their traffic without FIN; both sides give up and the clients resume',
    async prepare(env) {
      const proxy = await BlackHoleProxy.start('127.0.0.20', { host: env.hosts[0]!, port: env.httpPort });
      return { via: (pod: number) => (pod === 0 ? proxy.url : undefined), cleanup: () => proxy.close(), proxy };
    },
    async fault(_ctx, extra) {
      const dropped = (extra.proxy as BlackHoleProxy).blackHole();
      await sleep(5000);
      return { endedAt: Date.now() - 5000, note: `${dropped} connections black-holed` };
    },
  },
  {
    name: 'go-duplicates',
    title: 'a Go replica stand-in pushes every event twice over gRPC as well',
    short: true,
    async prepare(env) {
      const replicas = env.hosts.map((h) => new GoReplicaClient(`${h}:${env.grpcPort}`));
      let pushes = 0;
      const onAck = (p: Published) => {
        const [, companyId, agentId, kind, chatId] = p.subject.split('.');
        const request = pushRequestOf(
          { companyId: companyId!, agentId: agentId!, chatId: kind === 'messages' ? chatId! : '' },
          JSON.parse(p.text),
          'go-pod',
        );
        for (const r of replicas)
          for (let k = 0; k < 2; k++)
            void r.push(request).then(
              () => pushes++,
              () => undefined,
            );
      };
      return {
        onAck,
        cleanup: () => {
          for (const r of replicas) r.close();
        },
        pushes: () => pushes,
      };
    },
    async fault(_ctx, extra) {
      await sleep(3000);
      return { endedAt: Date.now(), note: `${(extra.pushes as () => number)()} pushes` };
    },
  },
  {
    name: 'large-burst',
    title:
      'a burst of 1,000 events of 400 KB nobody views under load, then a pod SIGKILLed (its sessions resume from ' +
      'before the burst, past what the history keeps)',
    podEnv: { DAISI_WS_APP_RESUME_MAX_BYTES: String(BURST_HISTORY_BYTES) },
    async fault({ env }) {
      const grown = await largeBurst(env);
      const problems = grown.some((g) => g > BURST_HISTORY_BYTES + 160 * MiB)
        ? [`RSS rose ${grown.map((g) => Math.round(g / MiB)).join('/')} MiB`]
        : [];
      const { endedAt } = await killFirstPod(env);
      return {
        endedAt,
        note: `RSS rose at most ${Math.round(Math.max(...grown) / MiB)} MiB (history ${BURST_HISTORY_BYTES / MiB} MiB)`,
        problems,
      };
    },
  },
  {
    name: 'config-swap',
    title: 'config file swapped under load (ConfigMap ..data swaps: new values, an invalid file, an empty one, back)',
    short: true,
    async fault({ env }) {
      env.publishConfig({
        app: { ping_interval_seconds: 1, max_client_frames_per_second: 20, websocket_message_buffer_size: 50 },
      });
      await sleep(700);
      env.publishConfig('app: [\n');
      await sleep(700);
      env.publishConfig('');
      await sleep(700);
      env.publishConfig({ app: { ping_interval_seconds: 1 } });
      const endedAt = Date.now();
      await sleep(500);
      const count = (text: string) => env.pods.reduce((n, p) => n + p.output.filter((l) => l.includes(text)).length, 0);
      const [ok, failed] = [count('"configuration reloaded"'), count('"configuration reload failed')];
      // Each pod must have seen the swaps: 2 reloads that apply and 2 that keep the running configuration.
      const problems =
        ok >= 2 * env.pods.length && failed >= 2 * env.pods.length
          ? []
          : [`the pods saw ${ok} reloads and ${failed} refused ones`];
      return {
        endedAt,
        note: `${ok} reloads applied and ${failed} refused across the pods; no session reconnected`,
        problems,
      };
    },
  },
  {
    name: 'cdc-bridge-kill',
    title: 'CDC bridge killed (SIGKILL) in a 20,000-row transaction; the standby takes over',
    short: true,
    postgres: true,
    prepare: cdcFront,
    fault: async (_ctx, extra) => {
      const front = frontOf(extra);
      const active = await front.active();
      const before = await front.streamMessages();
      const big = (extra.load as CdcLoad).bulk(20_000);
      while ((await front.streamMessages()) < before + 5000) await sleep(20);
      await front.kill(active);
      await big;
      const killedAt = Date.now();
      await front.active();
      const endedAt = Date.now();
      await front.restart(active);
      return {
        endedAt,
        note: `the standby read the slot ${((endedAt - killedAt) / 1000).toFixed(1)} s after the kill`,
      };
    },
  },
  {
    name: 'cdc-postgres-restart',
    title: 'PostgreSQL stopped (immediate) under the bridge and started after 2 s',
    postgres: true,
    prepare: cdcFront,
    fault: async (_ctx, extra) => {
      const front = frontOf(extra);
      await front.postgres.stop('immediate');
      await sleep(2000);
      await front.postgres.run();
      return { endedAt: Date.now() };
    },
  },
  {
    name: 'cdc-nats-kill',
    title: 'nats-server killed under the bridge and the pods, restarted after 2 s',
    postgres: true,
    prepare: cdcFront,
    fault: ({ env }) => killAndRestart(env.nats),
  },
  {
    ...CLUSTERED,
    name: 'cluster-leader-kill',
    title: 'JetStream cluster (R3): the stream leader killed (SIGKILL), started again 5 s later',
    fault: async ({ env }) => killServer(env, await env.cluster.leaderOf(STREAM), 5000),
  },
  {
    ...CLUSTERED,
    name: 'cluster-follower-kill',
    title: 'JetStream cluster (R3): a server that does not lead the stream killed (SIGKILL), started again 2 s later',
    fault: async ({ env }) => {
      const leader = await env.cluster.leaderOf(STREAM);
      return killServer(env, (leader + 1) % 3, 2000);
    },
  },
  {
    ...CLUSTERED,
    name: 'cluster-pod-server-kill',
    title: 'JetStream cluster (R3): the server the first pod is connected to killed (SIGKILL), started again 5 s later',
    fault: async ({ env }) => killServer(env, await env.cluster.serverOf(`consumer-${env.hosts[0]}`), 5000),
  },
  {
    ...CLUSTERED,
    name: 'cluster-server-pause',
    title: 'JetStream cluster (R3): the server the first pod is connected to paused (SIGSTOP) 20 s',
    fault: async ({ env, short }) => {
      const i = await env.cluster.serverOf(`consumer-${env.hosts[0]}`);
      const pausedAt = Date.now();
      env.cluster.signal(i, 'SIGSTOP');
      await sleep(short ? 10_000 : 20_000);
      env.cluster.signal(i, 'SIGCONT');
      await env.cluster.caughtUp(STREAM);
      // The pod notices within seconds and moves (docs/deploy.md), rather than waiting out the pause.
      const moved = env.pods[0]!.output.find((l) => l.includes('moving to another'));
      const movedMs = moved ? Date.parse(JSON.parse(moved).timestamp) - pausedAt : undefined;
      return {
        endedAt: Date.now(),
        note: `${env.cluster.nodes[i]!.name} paused; the first pod left it ${movedMs ?? '(never)'} ms after the pause`,
        problems: movedMs !== undefined && movedMs < 10_000 ? [] : ['the first pod did not leave the paused server'],
      };
    },
  },
  {
    ...CLUSTERED,
    name: 'cluster-rolling-restart',
    title: 'JetStream cluster (R3): rolling restart of the three servers (SIGTERM, start again, wait until current)',
    fault: async ({ env }) => {
      for (let i = 0; i < 3; i++) {
        await env.cluster.stopGracefully(i);
        await env.cluster.run(i);
        await env.cluster.caughtUp(STREAM);
      }
      return { endedAt: Date.now() };
    },
  },
  {
    ...CLUSTERED,
    name: 'redis-failover',
    title: 'Redis Sentinel: the master killed (SIGKILL) under connection churn; the replica is promoted',
    fault: async ({ env, clients, sessions }) => {
      const killedAt = Date.now();
      const failover = env.sentinel.failover();
      const hops = churn(
        clients,
        sessions,
        failover.then(() => sleep(3000)),
      );
      const promoted = await failover;
      const namedMs = Date.now() - killedAt;
      const dropped = await hops;
      return {
        endedAt: Date.now(),
        note: `the sentinels named ${promoted} ${namedMs} ms after the kill; ${dropped} connections dropped and resumed meanwhile`,
      };
    },
  },
];

/** Runs one row: a fresh fleet, sessions on every pod, a steady load, the fault, the checks. */
export async function runRow(
  row: Row,
  short: boolean,
  log: (line: string) => void = () => undefined,
): Promise<RowResult> {
  const env = await FaultEnv.start(3, row.podEnv, row.natsArgs?.(), row.clustered);
  const clients = await Clients.start(row.clientSilenceMs);
  const prepared: Prepared = (await row.prepare?.(env)) ?? {};
  try {
    const spread = sessionsFor(env, row.spread ?? 12, { via: prepared.via, agents: row.agents, chats: row.chats });
    const sessions = [...spread, ...sessionsFor(env, row.crowd ?? 0, { onlyPod: 0, firstId: spread.length })];
    await clients.open(sessions.map((s) => s.spec));
    const load: EventSource = prepared.load ?? (await Load.connect(env.natsUrl));
    const subjects = [...new Set(sessions.flatMap((s) => s.subjects))];
    await load.start(subjects, row.rate ?? (short ? 150 : 200), prepared.onAck, row.padBytes);
    await sleep(short ? 1500 : 3000);
    log(`${row.name}: fault`);
    const {
      endedAt,
      note,
      problems = [],
    } = await row.fault({ env, clients, sessions, short, on: (i) => sessions.filter((s) => s.home === i) }, prepared);
    await sleep(short ? 2000 : 4000);
    const published = await load.stop();
    const expected = sessions.map((s) => expectedOf(published, s.subjects));
    await waitUntilDelivered(clients, expected, short ? 15_000 : 30_000);
    const reports = await clients.report();
    problems.push(...(prepared.problems?.() ?? []));
    const result = evaluate(row, sessions, published, expected, reports, endedAt, note ?? '', problems);
    log(`${row.name}: ${result.ok ? 'ok' : 'FAILED'} ${JSON.stringify(result)}`);
    return result;
  } finally {
    await prepared.cleanup?.();
    clients.close();
    await env.stop();
  }
}

function expectedOf(published: Published[], subjects: string[]): Published[] {
  return published.filter((p) => subjects.includes(p.subject)).sort((a, b) => a.seq - b.seq);
}

async function waitUntilDelivered(clients: Clients, expected: Published[][], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const counts = await clients.counts();
    if (expected.every((e, id) => (counts.get(id) ?? 0) >= e.length)) return;
    await sleep(250);
  }
}

function evaluate(
  row: Row,
  sessions: Session[],
  published: Published[],
  expected: Published[][],
  reports: ClientReport[],
  endedAt: number,
  note: string,
  problems: string[],
): RowResult {
  let lost = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let delivered = 0;
  let reconnects = 0;
  let recovery = 0;
  for (const report of reports) {
    const want = expected[report.id]!;
    const seqOf = new Map(want.map((p) => [p.id, p.seq]));
    const sentOf = new Map(want.map((p) => [p.id, p.sentAt]));
    const seen = new Set<string>();
    let lastSeq = 0;
    for (const [id, , at] of report.events) {
      if (!seqOf.has(id)) {
        problems.push(`session ${report.id}: unexpected event ${id}`);
        continue;
      }
      if (seen.has(id)) duplicated++;
      seen.add(id);
      const seq = seqOf.get(id)!;
      if (seq < lastSeq) outOfOrder++;
      lastSeq = Math.max(lastSeq, seq);
      // Recovery: how long after the fault was over this session had caught up with what was
      // published before the end, or got its first event published after it.
      const sent = sentOf.get(id)!;
      if (sent <= endedAt || at >= endedAt)
        recovery = Math.max(recovery, sent <= endedAt ? at - endedAt : Math.min(at - sent, at - endedAt));
    }
    delivered += report.events.length;
    const missing = want.filter((p) => !seen.has(p.id));
    lost += missing.length;
    if (process.env.FAULTS_DEBUG && missing.length > 0)
      console.error(
        `session ${report.id} (home pod ${sessions[report.id]!.home}) lost ` +
          `${missing.map((p) => `${p.subject}@${p.seq}`).join(' ')}; errors: ${report.errors.join(' | ')}`,
      );
    reconnects += report.reconnects;
    for (const e of report.errors) if (e.startsWith('ResumeUnavailable')) problems.push(`session ${report.id}: ${e}`);
  }
  const back = reports.flatMap((r) => r.reconnectMs).sort((a, b) => a - b);
  if (back.length > 0) {
    const at = (q: number) => (back[Math.min(back.length - 1, Math.floor(back.length * q))]! / 1000).toFixed(1);
    note = [note, `back in ${at(0.5)} s (median), ${at(0.9)} s (p90), ${at(1)} s (max)`].filter(Boolean).join('; ');
  }
  const swapRow = row.name === 'config-swap';
  if (swapRow && reconnects > 0) problems.push(`${reconnects} reconnects during config swaps`);
  return {
    row: row.name,
    title: row.title,
    sessions: sessions.length,
    published: published.length,
    expected: expected.reduce((n, e) => n + e.length, 0),
    delivered,
    lost,
    duplicated,
    outOfOrder,
    reconnects,
    recoveryMs: Math.max(0, Math.round(recovery)),
    note: [note, ...problems.slice(0, 3)].filter(Boolean).join('; '),
    ok: lost === 0 && duplicated === 0 && outOfOrder === 0 && problems.length === 0,
  };
}
