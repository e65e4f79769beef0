import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventStream, HistoryRead, StreamEvent } from '../../src/domain/ports.js';
import { ReadMember, SharedStreamRead, type ReadOutcome } from '../../src/services/shared-stream-read.js';

// One stream read shared by the replays of a reconnect storm (services/shared-stream-read.ts), over a
// scripted stream: the events of one filter, handed on in order as the NATS adapter's read does.

type Stream = Pick<EventStream, 'readHistory'>;

/** Hands on `seqs` in order (stopping when the read is stopped); counts its reads. */
function scriptedStream(seqs: number[], pending = seqs.length): Stream & { reads: HistoryRead[] } {
  const reads: HistoryRead[] = [];
  return {
    reads,
    async readHistory(read) {
      reads.push(read);
      if (pending > read.maxEvents) return 'too_long';
      for (const seq of seqs) {
        if (read.signal.aborted || seq > read.toSeq) break;
        if (seq < read.fromSeq) continue;
        await new Promise((r) => setImmediate(r));
        const wait = read.onEvent({ subject: 'wa.c.a.chats', data: new Uint8Array(), seq });
        if (wait) await wait;
      }
      return 'done';
    },
  };
}

function member(fromSeq: number, upTo: number, onEvent: (e: StreamEvent) => void | Promise<void> = () => {}) {
  const got: number[] = [];
  const m = new ReadMember(fromSeq, upTo, (e) => {
    got.push(e.seq);
    return onEvent(e);
  });
  return { m, got };
}

describe('SharedStreamRead', { timeout: 5000 }, () => {
  it('hands every member its events once, in order, from one read of the stream', async () => {
    const stream = scriptedStream([3, 5, 8, 9, 12]);
    const read = new SharedStreamRead('wa.c.a.>', 3, 12, 100);
    const a = member(3, 12);
    const b = member(3, 12);
    read.join(a.m);
    assert.ok(read.joinable(3, 100));
    read.join(b.m);
    await read.run(stream);
    assert.equal(stream.reads.length, 1);
    assert.deepEqual(a.got, [3, 5, 8, 9, 12]);
    assert.deepEqual(b.got, [3, 5, 8, 9, 12]);
    assert.deepEqual(await a.m.outcome, { kind: 'read', reached: 12 });
  });

  it('takes no one once it has handed on an event, nor an earlier start or another bound', async () => {
    const stream = scriptedStream([3, 5]);
    const read = new SharedStreamRead('wa.c.a.>', 3, 5, 100);
    let firstEvent!: () => void;
    const handedOn = new Promise<void>((resolve) => (firstEvent = resolve));
    read.join(member(3, 5, () => firstEvent()).m);
    assert.ok(read.joinable(4, 100), 'a later start can join before the first event');
    assert.equal(read.joinable(2, 100), false);
    assert.equal(read.joinable(3, 99), false);
    const running = read.run(stream);
    await handedOn;
    assert.equal(read.joinable(3, 100), false, 'after its first event');
    await running;
  });

  it('lets a member whose socket is full leave where it stands; the others are not held', async () => {
    const stream = scriptedStream([1, 2, 3, 4, 5, 6]);
    const read = new SharedStreamRead('f', 1, 6, 100);
    const never = new Promise<void>(() => {});
    const slow = member(1, 6, (e) => (e.seq === 2 ? never : undefined));
    const fast = member(1, 6);
    read.join(slow.m);
    read.join(fast.m);
    await read.run(stream);
    assert.deepEqual(fast.got, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(slow.got, [1, 2]);
    assert.deepEqual(await slow.m.outcome, { kind: 'read', reached: 2 }, 'it goes on alone after 2');
  });

  it('ends a member at its own upTo, and one that starts later from its own start', async () => {
    const stream = scriptedStream([2, 4, 6, 8]);
    const read = new SharedStreamRead('f', 1, 8, 100);
    const short = member(1, 5);
    const late = member(5, 8);
    read.join(short.m);
    read.join(late.m);
    await read.run(stream);
    assert.deepEqual(short.got, [2, 4]);
    assert.deepEqual(await short.m.outcome, { kind: 'read', reached: 5 });
    assert.deepEqual(await late.m.outcome, { kind: 'read', reached: 8 });
    assert.ok(late.got.includes(6) && late.got.includes(8));
  });

  it('refuses too long only the members it was counted for; the others ask again', async () => {
    const stream = scriptedStream([1, 2, 3], 50);
    const read = new SharedStreamRead('f', 1, 3, 10);
    const first = member(1, 3);
    const later = member(2, 3);
    read.join(first.m);
    read.join(later.m);
    await read.run(stream);
    assert.deepEqual(await first.m.outcome, { kind: 'too_long' });
    assert.equal((await later.m.outcome).kind, 'again');
  });

  it('stops reading when every member has left, and keeps a failing member to itself', async () => {
    const stream = scriptedStream([1, 2, 3, 4, 5, 6, 7, 8]);
    const read = new SharedStreamRead('f', 1, 8, 100);
    const failing = member(1, 8, (e) => {
      if (e.seq === 2) throw new Error('boom');
    });
    const leaving = member(1, 8, (e) => {
      if (e.seq === 4) queueMicrotask(() => read.leave(leaving.m, { kind: 'again' }));
    });
    read.join(failing.m);
    read.join(leaving.m);
    await read.run(stream);
    const failed = (await failing.m.outcome) as Extract<ReadOutcome, { kind: 'failed' }>;
    assert.equal(failed.kind, 'failed');
    assert.match(String(failed.error), /boom/);
    assert.deepEqual(await leaving.m.outcome, { kind: 'again' });
    assert.ok(stream.reads[0]!.signal.aborted, 'the read was stopped');
    assert.ok(leaving.got.length <= 5, `it read on to ${leaving.got.at(-1)} only`);
  });

  it('sends everyone back to ask again when it cannot start', async () => {
    const read = new SharedStreamRead('f', 1, 8, 100);
    const a = member(1, 8);
    read.join(a.m);
    read.abandon();
    assert.deepEqual(await a.m.outcome, { kind: 'again' });
    assert.equal(read.joinable(1, 100), false);
  });
});
