// How long an event takes from its publisher to a reader, two ways side by side in one process:
// a core NATS subscription on `wa.>` (how the raw `ws` baseline reads) and the pod's own ordered
// reading of the stream (OrderedReader, as every pod reads). Usage:
//   node --import tsx bench/stream-latency.ts [events/s] [seconds]
// A forked publisher sends JetStream publishes in 5 ms bursts (as `npm run bench` does), each
// carrying its send time; the difference of the two paths is what the stream itself (its store
// and its consumer's delivery) adds to every gateway's latency, before any session is involved.
import { fork } from 'node:child_process';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { OrderedReader } from '../src/adapters/nats/ordered-reader.js';
import { startNats } from './lib/processes.js';
import { summarize } from './lib/stats.js';

const RATE = Number(process.argv[2] ?? 1000);
const SECONDS = Number(process.argv[3] ?? 10);
/** Milliseconds on a clock processes on one machine share (sub-millisecond, unlike Date.now). */
const clock = () => performance.timeOrigin + performance.now();

if (process.argv[4] === 'publisher') {
  const nc = await connect({ servers: process.argv[5] });
  const js = jetstream(nc);
  const pad = 'x'.repeat(120);
  const started = Date.now();
  const inflight: Array<Promise<unknown>> = [];
  let n = 0;
  while (Date.now() - started < SECONDS * 1000) {
    const due = Math.floor(((Date.now() - started) / 1000) * RATE);
    for (; n < due; n++) {
      inflight.push(
        js.publish(
          `wa.lat.a${n % 100}.chats`,
          JSON.stringify({ event_id: `e${n}`, row_data: { sent_at: clock(), text: pad } }),
        ),
      );
      if (inflight.length >= 2000) await inflight.shift();
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(inflight);
  await nc.close();
  process.exit(0);
}

const nats = await startNats();
const nc = await connect({ servers: nats.url });
await (await jetstreamManager(nc)).streams.add({ name: 'lat', subjects: ['wa.>'] });
const sentAt = (data: Uint8Array) =>
  (JSON.parse(Buffer.from(data).toString()) as { row_data: { sent_at: number } }).row_data.sent_at;
const core: number[] = [];
const stream: number[] = [];
nc.subscribe('wa.>', { callback: (_err, msg) => void core.push(clock() - sentAt(msg.data)) });
const reader = new OrderedReader(
  nc,
  {
    stream: 'lat',
    filter: 'wa.>',
    start: { kind: 'next' },
    heartbeatMs: 1000,
    inactiveMs: 10_000,
    description: 'latency',
  },
  {
    event: (_subject, data) => void stream.push(clock() - sentAt(data)),
    reset: (why) => console.log(`reset: ${why}`),
    epochChanged: () => undefined,
    failed: (err) => console.log(`failed: ${(err as Error).message}`),
  },
);
await reader.start();
const publisher = fork(new URL(import.meta.url).pathname, [String(RATE), String(SECONDS), 'publisher', nats.url], {
  execArgv: ['--import', 'tsx'],
});
await new Promise((r) => publisher.once('exit', r));
await new Promise((r) => setTimeout(r, 1000));
for (const [name, samples] of [
  ['core subscription', core],
  ['stream (pod reader)', stream],
] as const) {
  const s = summarize(Float64Array.from(samples));
  console.log(
    `${name.padEnd(20)} ${s.count} events at ${RATE}/s: p50 ${s.p50.toFixed(2)} p95 ${s.p95.toFixed(2)} p99 ` +
      `${s.p99.toFixed(2)} max ${s.max.toFixed(1)} ms`,
  );
}
await reader.stop();
await nc.close();
await nats.stop();
