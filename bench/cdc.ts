// The CDC scenario of `npm run bench` (`-- --scenarios cdc`; alone: `npx tsx bench/cdc.ts`): row changes
// from a PostgreSQL commit to a browser frame, beside two ceilings measured in the same run —
// PostgreSQL's own insert rate for the same transactions, and the bridge's decode-and-publish loop
// with core NATS publishes (no JetStream acknowledgement). Built code (dist/): `npm run build` first.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import WebSocket from 'ws';
import { parseAllDocuments } from 'yaml';
import { PgReplicationSlot } from '../src/adapters/postgres/replication-slot.js';
import { TestPostgres } from '../support/postgres-server.js';
import { TestNatsServer } from '../support/nats-server.js';
import { freePortNumber } from '../support/ports.js';
import { cpuSecondsOf, cpuSecondsOfTree } from '../support/cpu.js';
import { sealToken, parseAesKey } from '../src/domain/token-crypto.js';

const ROOT = new URL('..', import.meta.url).pathname;
const KEYS = { client: 'bench-client', admin: 'bench-admin', aes: 'a'.repeat(64), adminAes: 'b'.repeat(64) };
const BATCH = 100;

/** The bridge's V8 flags as deploy/k8s/cdc.yaml sets them (NODE_OPTIONS): the bench measures what is deployed. */
function deployedBridgeFlags(): string[] {
  const docs = parseAllDocuments(readFileSync(`${ROOT}deploy/k8s/cdc.yaml`, 'utf8')).map((d) => d.toJS());
  const env: Array<{ name: string; value?: string }> = docs[0].spec.template.spec.containers[0].env;
  return (env.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '').split(' ').filter(Boolean);
}

export interface CdcFigures {
  postgresInsertsPerSecond: number;
  decodePublishPerSecond: number;
  endToEndPerSecond: number;
  /** CPU per process during the end-to-end run, in µs per change: which one saturates. */
  endToEndCpu: Record<'postgres' | 'bridge' | 'nats' | 'pod' | 'client', number>;
  latency: Array<{ rate: number; p50: number; p99: number; frames: number }>;
}

export async function scenarioCdc(rows = 50_000, rates = [1000, 5000], seconds = 5): Promise<CdcFigures> {
  const { postgres, nats, db } = await servers();
  const procs: ChildProcess[] = [];
  try {
    // 1. PostgreSQL alone: the same transactions, nobody reading a slot.
    const insert = async (n: number, tag: string) => {
      await db.query(
        `INSERT INTO daisi_acme.chats (chat_id, agent_id, title, n)
         SELECT $2 || '-' || g, 'agent-' || (g % 10), 'title of a chat', g FROM generate_series(1, $1) g`,
        [n, tag],
      );
    };
    let started = performance.now();
    for (let i = 0; i < rows / BATCH; i++) await insert(BATCH, `pg${i}`);
    const postgresInsertsPerSecond = rows / ((performance.now() - started) / 1000);

    // 2. Decode and publish, no acknowledgement: a slot of its own, its backlog read through.
    await db.query("SELECT pg_create_logical_replication_slot('bench_ceiling', 'pgoutput')");
    await db.query('CREATE PUBLICATION daisi_pub FOR ALL TABLES WITH (publish_via_partition_root = true)');
    for (let i = 0; i < rows / BATCH; i++) await insert(BATCH, `dp${i}`);
    const nc = await connect({ servers: nats.url });
    const slot = new PgReplicationSlot({
      url: postgres.url,
      slot: 'bench_ceiling',
      publication: 'daisi_pub',
      create: false,
      statusIntervalMs: 1000,
    });
    let seen = 0;
    started = 0;
    await new Promise<void>((resolve) => {
      const reading = slot.read({
        started: () => {
          started = performance.now();
        },
        event: (e) => {
          if (e.kind !== 'change') return;
          nc.publish(`wa.acme.${e.record.agent_id}.chats`, JSON.stringify({ row_data: { record: e.record } }));
          if (++seen === rows) resolve();
        },
        keepalive: () => undefined,
      });
      reading.catch(() => undefined); // ended by stop() below
    });
    const decodePublishPerSecond = rows / ((performance.now() - started) / 1000);
    await slot.stop();
    await db.query("SELECT pg_drop_replication_slot('bench_ceiling')");
    await nc.close();

    // 3. End to end: the bridge and a pod as processes, a WebSocket client on the agent's chat list.
    const env = {
      DAISI_WS_NATS_URL: nats.url,
      DAISI_WS_REDIS_ADDRESS: process.env.BENCH_REDIS ?? '127.0.0.1:6379',
      DAISI_WS_AUTH_SECRET_TOKEN: KEYS.client,
      DAISI_WS_AUTH_ADMIN_SECRET_TOKEN: KEYS.admin,
      DAISI_WS_AUTH_TOKEN_AES_KEY: KEYS.aes,
      DAISI_WS_AUTH_ADMIN_TOKEN_AES_KEY: KEYS.adminAes,
      DAISI_WS_CDC_POSTGRES_URL: postgres.url,
      DAISI_WS_LOG_LEVEL: 'info',
    };
    const podPort = freePortNumber();
    procs.push(
      await daisi(
        'start',
        {
          ...env,
          DAISI_WS_SERVER_HOST: '127.0.0.31',
          DAISI_WS_SERVER_POD_ID: '127.0.0.31',
          DAISI_WS_SERVER_HTTP_PORT: String(podPort),
        },
        '"gateway started"',
      ),
    );
    procs.push(
      await daisi(
        'cdc',
        { ...env, DAISI_WS_SERVER_HOST: '127.0.0.32', DAISI_WS_SERVER_HTTP_PORT: String(freePortNumber()) },
        'cdc: reading the slot',
      ),
    );
    const token = sealToken(
      parseAesKey(KEYS.aes),
      JSON.stringify({
        company_id: 'acme',
        agent_id: 'agent-0',
        user_id: 'u',
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    );
    const ws = new WebSocket(
      `ws://127.0.0.31:${podPort}/ws/acme/agent-0?token=${encodeURIComponent(token)}&x-api-key=${KEYS.client}`,
      ['json.v1'],
    );
    const frames: Array<{ at: number; commit: number }> = [];
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === 'event') frames.push({ at: Date.now(), commit: Date.parse(f.payload.event_time) });
    });
    await new Promise((resolve, reject) => ws.once('message', resolve).once('error', reject));
    // The client sees agent-0's rows: a tenth of them.
    const [pod, bridge] = procs as [ChildProcess, ChildProcess];
    const cpu = () => ({
      postgres: cpuSecondsOfTree(postgres.pid),
      bridge: cpuSecondsOf(bridge.pid!),
      nats: cpuSecondsOf(nats.pid),
      pod: cpuSecondsOf(pod.pid!),
      // this process: the inserting client and the WebSocket client
      client: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
    });
    const before = cpu();
    started = performance.now();
    for (let i = 0; i < rows / BATCH; i++) await insert(BATCH, `e2e${i}`);
    while (frames.length < rows / 10) await new Promise((r) => setTimeout(r, 20));
    const endToEndPerSecond = rows / ((performance.now() - started) / 1000);
    const after = cpu();
    const endToEndCpu = Object.fromEntries(
      Object.entries(after).map(([k, v]) => [k, Math.round(((v - before[k as keyof typeof before]) * 1e6) / rows)]),
    ) as CdcFigures['endToEndCpu'];

    // 4. Commit → frame at a steady rate: a transaction of rate/100 rows every 10 ms.
    const latency: CdcFigures['latency'] = [];
    for (const rate of rates) {
      frames.length = 0;
      const perTick = rate / 100;
      const end = performance.now() + seconds * 1000;
      let tick = 0;
      while (performance.now() < end) {
        const due = performance.now() + 10;
        await insert(perTick, `r${rate}-${tick++}`);
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const expected = (tick * perTick) / 10;
      const deadline = Date.now() + 10_000;
      while (frames.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const delays = frames.map((f) => f.at - f.commit).sort((a, b) => a - b);
      const q = (p: number) => delays[Math.min(delays.length - 1, Math.floor(p * delays.length))] ?? NaN;
      latency.push({ rate, p50: q(0.5), p99: q(0.99), frames: frames.length });
    }
    ws.close();
    return { postgresInsertsPerSecond, decodePublishPerSecond, endToEndPerSecond, endToEndCpu, latency };
  } finally {
    // With BENCH_CDC_NODE_ARGS='--cpu-prof …' the processes stop gracefully, so that they write their profiles.
    const graceful = process.env.BENCH_CDC_NODE_ARGS?.includes('--cpu-prof');
    await Promise.all(
      procs.map((p) => {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill(graceful ? 'SIGTERM' : 'SIGKILL');
        return exited;
      }),
    );
    await db.end();
    await postgres.destroy();
    await nats.stop();
  }
}

/** A PostgreSQL and a nats-server of the bench's own, and a company table to write to. */
async function servers(): Promise<{ postgres: TestPostgres; nats: TestNatsServer; db: pg.Client }> {
  const [postgres, nats] = await Promise.all([TestPostgres.start(), TestNatsServer.start()]);
  const db = new pg.Client(postgres.url);
  await db.connect();
  await db.query(`CREATE SCHEMA daisi_acme;
    CREATE TABLE daisi_acme.chats (chat_id text PRIMARY KEY, agent_id text, title text, n int);`);
  return { postgres, nats, db };
}

/** A daisi-ws process from dist/, once `ready` appears in its output. */
function daisi(command: string, env: Record<string, string>, ready: string): Promise<ChildProcess> {
  // As deployed: a pod as `npm start` and the image run it (a 2 MB young generation, for its sessions), the
  // bridge with deploy/k8s/cdc.yaml's NODE_OPTIONS. BENCH_CDC_NODE_ARGS adds flags to both (a later one wins).
  const deployed = command === 'cdc' ? deployedBridgeFlags() : ['--max-semi-space-size=2'];
  const extra = process.env.BENCH_CDC_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...deployed, ...extra, `${ROOT}bin/daisi-ws.js`, command], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    const onLine = (line: string) => {
      lines.push(line);
      if (line.includes(ready)) resolve(child);
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('exit', (code) => reject(new Error(`daisi-ws ${command} exited with ${code}:\n${lines.join('\n')}`)));
  });
}

export function cdcTable(f: CdcFigures): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  return [
    '| cdc | figure |',
    '|---|---|',
    `| PostgreSQL alone, the same transactions (100 rows each) | ${n(f.postgresInsertsPerSecond)} rows/s |`,
    `| decode and publish, core NATS, no acknowledgement | ${n(f.decodePublishPerSecond)} changes/s |`,
    `| end to end: commit → JetStream (acknowledged) → pod → WebSocket frame | ${n(f.endToEndPerSecond)} changes/s |`,
    `| CPU per change end to end, µs (2 cores: 200 µs/change is 10,000/s with both saturated) | ${Object.entries(
      f.endToEndCpu,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} |`,
    ...f.latency.map(
      (l) =>
        `| commit → frame at ${n(l.rate)} changes/s (${n(l.frames)} frames to one client) | p50 ${l.p50} ms, p99 ${l.p99} ms |`,
    ),
  ].join('\n');
}

/**
 * One transaction of `rows` rows through the bridge (as its own process, with a pod-less stream): the
 * bridge's RSS, sampled every 100 ms from its start to the last change in the stream.
 */
export async function scenarioCdcHuge(
  rows = 1_000_000,
): Promise<{ baselineMiB: number; peakMiB: number; seconds: number }> {
  const { postgres, nats, db } = await servers();
  let bridge: ChildProcess | undefined;
  try {
    bridge = await daisi(
      'cdc',
      {
        DAISI_WS_NATS_URL: nats.url,
        DAISI_WS_NATS_READ_MODE: 'stream',
        DAISI_WS_CDC_POSTGRES_URL: postgres.url,
        DAISI_WS_SERVER_HOST: '127.0.0.33',
        DAISI_WS_SERVER_HTTP_PORT: String(freePortNumber()),
        DAISI_WS_LOG_LEVEL: 'info',
      },
      'cdc: reading the slot',
    );
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${bridge!.pid}/status`, 'utf8'))![1]) / 1024;
    const baselineMiB = rss();
    let peakMiB = baselineMiB;
    const sampler = setInterval(() => (peakMiB = Math.max(peakMiB, rss())), 100);
    const started = performance.now();
    await db.query(
      `INSERT INTO daisi_acme.chats SELECT 'h' || g, 'agent-' || (g % 10), 'title of a chat', g FROM generate_series(1, $1) g`,
      [rows],
    );
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    while ((await jsm.streams.info('wa_stream').catch(() => undefined))?.state.messages !== rows)
      await new Promise((r) => setTimeout(r, 500));
    clearInterval(sampler);
    await nc.close();
    return { baselineMiB, peakMiB, seconds: (performance.now() - started) / 1000 };
  } finally {
    bridge?.kill('SIGKILL');
    await db.end();
    await postgres.destroy();
    await nats.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--huge')) {
    const r = await scenarioCdcHuge();
    console.log(
      `one transaction of 1,000,000 rows: ${r.seconds.toFixed(1)} s from the INSERT to the last change in the stream; ` +
        `the bridge's RSS ${r.baselineMiB.toFixed(0)} MiB at start, ${r.peakMiB.toFixed(0)} MiB at most ` +
        `(growth ${(r.peakMiB - r.baselineMiB).toFixed(0)} MiB)`,
    );
  } else console.log(cdcTable(await scenarioCdc()));
}
