// `npx tsx bench/wire-frame.ts`: the prepared wire frame of a broadcast (transports/ws/wire-frame.ts) against
// `ws`'s public Sender.frame, made into the one buffer a broadcast writes to each plain socket (issue 40).
// Each iteration frames a new message (the one-entry cache never hits), in alternating rounds.
import { createRequire } from 'node:module';
import { wireFrameOf } from '../src/transports/ws/wire-frame.js';

// ws's framer, which its type definitions do not declare.
const { Sender } = createRequire(import.meta.url)('ws') as {
  Sender: { frame(data: Buffer, options: object): Buffer[] };
};
const OPTIONS = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false };
const viaWs = (message: Buffer): Buffer => Buffer.concat(Sender.frame(message, OPTIONS));

function round(frame: (m: Buffer) => Buffer, messages: Buffer[], times: number): number {
  const started = process.hrtime.bigint();
  let sink = 0;
  for (let t = 0; t < times; t++) for (const m of messages) sink += frame(Buffer.from(m)).length;
  if (sink === 0) throw new Error('unreachable');
  return Number(process.hrtime.bigint() - started) / (times * messages.length);
}

for (const size of [200, 2_000, 100_000]) {
  const messages = Array.from({ length: 100 }, (_, i) => Buffer.alloc(size, 97 + (i % 26)));
  for (let i = 0; i < messages.length; i++)
    if (!wireFrameOf(messages[i]!).equals(viaWs(messages[i]!))) throw new Error('different bytes');
  const times = size > 10_000 ? 20 : 2_000;
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < 7; r++) {
    ours.push(round(wireFrameOf, messages, times));
    theirs.push(round(viaWs, messages, times));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    `${size} B: wireFrameOf ${median(ours).toFixed(0)} ns, Sender.frame + concat ${median(theirs).toFixed(0)} ns ` +
      `(${(median(theirs) / median(ours)).toFixed(2)} ×)`,
  );
}
