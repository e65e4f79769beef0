// What a pod pays per event nobody on it wants, without the rest of the gateway around it:
// `node --import tsx bench/reader-cost.ts [count]`. Stores `count` events of ~250 bytes in a
// stream of a nats-server it starts, then reads them all, in this process, four ways, and prints
// the CPU µs per event of each (process.cpuUsage, so other processes do not count):
//   bare     — a push consumer with flow control, read by a plain subscription callback (the floor)
//   client   — OrderedReader through the nats.js connection (its fallback), nothing done with the event
//   reader   — OrderedReader on its own connection (InboxWire), nothing done with the event
//   pod      — OrderedReader + EventDispatcher + EventHistory + a registry of 1,000 sessions of
//              other subjects: what a pod really does with such an event
//   wanted   — the same with 10 sessions wanting every event (checked, framed, handed to sessions
//              that drop it): what an event costs a pod before its frames reach sockets
// Each line also splits the figure into user and kernel time. BENCH_ONLY=reader runs one of them.
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { connect, createInbox, nanos } from '@nats-io/transport-node';
import { pino } from 'pino';
import { OrderedReader } from '../src/adapters/nats/ordered-reader.js';
import { Metrics } from '../src/platform/metrics.js';
import { DeliveryPosition } from '../src/services/delivery-position.js';
import type { Session } from '../src/services/session.js';
import { EventDispatcher } from '../src/services/event-dispatcher.js';
import { EventHistory } from '../src/services/event-history.js';
import { SessionRegistry } from '../src/services/session-registry.js';
import { fork } from 'node:child_process';
import { startNats } from './lib/processes.js';

const COUNT = Number(process.argv[2] ?? 100_000);
const STREAM = 'cost';

async function publishAll(url: string): Promise<void> {
  const pnc = await connect({ servers: url });
  const js = jetstream(pnc);
  const body = 'y'.repeat(150);
  const pending: Array<Promise<unknown>> = [];
  for (let i = 0; i < COUNT; i++) {
    pending.push(
      js.publish(
        `wa.nobody.a${i % 100}.chats`,
        `{"event_id":"f-${i}","event_time":"2026-11-26T10:00:00Z","company_id":"nobody","row_data":{"text":"${body}"}}`,
      ),
    );
    if (pending.length >= 2000) await pending.shift();
  }
  await Promise.all(pending);
  await pnc.close();
}

// `--live`: the events are published by another process while this one reads (what a pod in a
// fleet sees); otherwise they are stored first and read as a backlog (the method).
if (process.argv[3] === 'publisher') {
  await publishAll(process.argv[4]!);
  process.exit(0);
}
const LIVE = process.argv.includes('--live');
const nats = await startNats();
const nc = await connect({ servers: nats.url });
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: STREAM, subjects: ['wa.>'] });
if (!LIVE) await publishAll(nats.url);

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function measure(name: string, run: (done: () => void) => Promise<() => Promise<void>>): Promise<void> {
  if (process.env.BENCH_ONLY && process.env.BENCH_ONLY !== name) return;
  const split0 = process.cpuUsage();
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const t0 = cpuUs();
  const w0 = Date.now();
  const stop = await run(finish);
  if (LIVE) {
    await jsm.streams.purge(STREAM);
    fork(new URL(import.meta.url).pathname, [String(COUNT), 'publisher', nats.url], { execArgv: ['--import', 'tsx'] });
  }
  await done;
  const us = (cpuUs() - t0) / COUNT;
  const split = process.cpuUsage(split0);
  console.log(
    `${name.padEnd(7)} ${us.toFixed(2)} µs per event (${COUNT} events in ${Date.now() - w0} ms; user ` +
      `${(split.user / COUNT).toFixed(2)}, kernel ${(split.system / COUNT).toFixed(2)})`,
  );
  await stop();
}

async function bare(done: () => void) {
  const inbox = createInbox();
  let n = 0;
  const sub = nc.subscribe(inbox, {
    callback: (_err, msg) => {
      if (msg.subject === inbox) {
        if (msg.headers?.description?.toLowerCase().startsWith('flowcontrol')) msg.respond();
        return;
      }
      if (++n === COUNT) done();
    },
  });
  const ci = await jsm.consumers.add(STREAM, {
    deliver_subject: inbox,
    deliver_policy: LIVE ? DeliverPolicy.New : DeliverPolicy.All,
    ack_policy: AckPolicy.None,
    flow_control: true,
    idle_heartbeat: nanos(1000),
    mem_storage: true,
  });
  return async () => {
    sub.unsubscribe();
    await jsm.consumers.delete(STREAM, ci.name);
  };
}

function reader(onEvent: (subject: string, data: Uint8Array, seq: number) => void, ownConnection = true) {
  return async (done: () => void) => {
    let n = 0;
    const r = new OrderedReader(
      nc,
      {
        stream: STREAM,
        filter: 'wa.>',
        start: LIVE ? { kind: 'next' } : { kind: 'seq', seq: 1 },
        heartbeatMs: 1000,
        inactiveMs: 10_000,
        description: 'cost',
        ownConnection,
      },
      {
        event: (subject, data, seq) => {
          onEvent(subject, data, seq);
          if (++n === COUNT) done();
        },
        reset: (why) => console.log(`reset: ${why}`),
        epochChanged: () => undefined,
        failed: (err) => console.log(`failed: ${(err as Error).message}`),
      },
    );
    await r.start();
    return () => r.stop();
  };
}

/** A pod's dispatcher with 1,000 sessions over 100 agents of `company` (sessions that drop what they are given). */
function podOf(company: string): EventDispatcher {
  const registry = new SessionRegistry();
  for (let i = 0; i < 1000; i++) {
    const session = {
      id: i,
      key: `session:${company}:a${i % 100}:u${i}`,
      identity: { kind: 'user', companyId: company, agentId: `a${i % 100}`, userId: `u${i}` },
      chatId: undefined,
      position: new DeliveryPosition(),
      lastActivityMs: 0,
      deliver() {},
      sendUnbounded() {},
      terminate() {},
    } as unknown as Session;
    registry.add(session);
  }
  return new EventDispatcher({
    registry,
    history: new EventHistory({ maxEvents: 50_000, maxAgeMs: 300_000, maxBytes: 64 * 1024 * 1024 }),
    metrics: new Metrics(false).deliveryHooks(),
    log: pino({ level: 'silent' }),
  });
}
const dispatcher = podOf('viewed');
// `wanted`: every event has 10 sessions on the pod (checked, framed, handed to them), nothing written to a socket.
const wantedBy = podOf('nobody');

for (let round = 0; round < 2; round++) {
  await measure('bare', bare);
  await measure(
    'client',
    reader(() => undefined, false),
  );
  await measure(
    'reader',
    reader(() => undefined),
  );
  await measure(
    'pod',
    reader((subject, data, seq) => void dispatcher.deliver({ subject, data, seq })),
  );
  await measure(
    'wanted',
    reader((subject, data, seq) => void wantedBy.deliver({ subject, data, seq })),
  );
}
await nc.close();
await nats.stop();
