import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SendQueue } from '../../src/transports/ws/send-queue.js';

interface Bounds {
  bytesPerFrame?: number;
  capacity?: number;
  maxBytes?: number;
  policy?: 'drop_oldest' | 'block';
}

/** A socket whose buffer fills with every frame until the test lets it drain. */
function fakeSocket({
  bytesPerFrame = 70 * 1024,
  capacity = 10,
  maxBytes = 4 * 1024 * 1024,
  policy = 'drop_oldest',
}: Bounds = {}) {
  const written: string[] = [];
  const dropped: string[] = [];
  let buffered = 0;
  const counts = { waits: 0, overflows: 0 };
  return {
    written,
    dropped,
    counts,
    sink: {
      awaitDrain: () => void counts.waits++,
      capacity: () => capacity,
      maxBytes: () => maxBytes,
      policy: () => policy,
      bufferedAmount: () => buffered,
      write: (frame: Buffer) => {
        written.push(frame.toString());
        buffered += bytesPerFrame;
      },
      dropped: (reason: string) => void dropped.push(reason),
      overflow: () => void counts.overflows++,
    },
    drain: (q: SendQueue) => {
      buffered = 0;
      q.drained();
    },
  };
}

const frame = (text: string) => Buffer.from(text);

describe('SendQueue', () => {
  it('writes straight through while the socket has room', () => {
    const socket = fakeSocket({ bytesPerFrame: 10, capacity: 2 });
    const q = new SendQueue(socket.sink);
    for (const n of [1, 2, 3, 4, 5]) q.push(frame(String(n)));
    assert.deepEqual(socket.written, ['1', '2', '3', '4', '5']);
    assert.equal(q.length, 0);
    assert.equal(socket.counts.waits, 0, 'no frame waited, so no drain is awaited');
  });

  it('drops the oldest waiting frame when full (drop_oldest)', () => {
    const socket = fakeSocket({ capacity: 3 });
    const q = new SendQueue(socket.sink);
    for (const n of [1, 2, 3, 4, 5, 6]) q.push(frame(String(n)));
    // 1 went to the socket and filled it; 2 and 3 were dropped to make room for 5 and 6.
    assert.equal(q.length, 3);
    assert.ok(socket.counts.waits > 0, "frames wait, so the socket's drain is awaited");
    assert.deepEqual(socket.dropped, ['buffer_full_dropped_oldest', 'buffer_full_dropped_oldest']);
    for (let i = 0; i < 3; i++) socket.drain(q);
    assert.deepEqual(socket.written, ['1', '4', '5', '6']);
    assert.equal(q.length, 0);
  });

  it('bounds the waiting frames in bytes as well: drop_oldest drops as many as it takes', () => {
    const socket = fakeSocket({ capacity: 100, maxBytes: 10_000 });
    const q = new SendQueue(socket.sink);
    q.push(frame('first')); // to the socket, which is then full
    for (let i = 0; i < 5; i++) q.push(frame(`${i}`.padEnd(3000, '.')));
    assert.equal(q.length, 3, 'three frames of 3,000 bytes fit in 10,000');
    assert.ok(q.bytes <= 10_000);
    q.push(frame('big'.padEnd(9000, '.')));
    assert.equal(q.length, 1, 'a 9,000-byte frame leaves room for nothing else');
    assert.deepEqual(socket.dropped.length, 5);
    q.push(frame('huge'.padEnd(20_000, '.')));
    assert.equal(q.length, 1, 'a frame larger than the bound waits alone');
    assert.equal(q.bytes, 20_000);
  });

  it('block drops nothing: a full queue (in frames or in bytes) keeps the frame and says it is full', () => {
    const socket = fakeSocket({ capacity: 2, maxBytes: 5000, policy: 'block' });
    const q = new SendQueue(socket.sink);
    for (let i = 0; i < 3; i++) q.push(frame(`${i}`.padEnd(1000, '.')));
    assert.equal(q.length, 2);
    assert.equal(socket.counts.overflows, 0, 'two frames wait: the buffer size, not past it');
    q.push(frame('3'.padEnd(1000, '.')));
    assert.equal(socket.counts.overflows, 1, 'a third waiting frame passes the buffer size');
    assert.equal(q.length, 3, 'and is kept');
    const bytes = fakeSocket({ capacity: 100, maxBytes: 5000, policy: 'block' });
    const b = new SendQueue(bytes.sink);
    for (let i = 0; i < 7; i++) b.push(frame(`${i}`.padEnd(1000, '.')));
    assert.equal(bytes.counts.overflows, 1, 'the sixth waiting frame passes 5,000 bytes');
    assert.deepEqual([...socket.dropped, ...bytes.dropped], []);
    for (let i = 0; i < 7; i++) bytes.drain(b);
    assert.deepEqual(
      bytes.written.map((w) => w[0]),
      ['0', '1', '2', '3', '4', '5', '6'],
    );
  });

  it(
    'writable() is undefined while frames go straight out, and settles once the waiting ones have gone or the ' +
      'queue closed',
    async () => {
      const socket = fakeSocket({ capacity: 10 });
      const q = new SendQueue(socket.sink);
      assert.equal(q.writable(), undefined);
      q.push(frame('a'));
      assert.equal(q.writable(), undefined, 'a went to the socket: nothing waits');
      q.push(frame('b'));
      q.push(frame('c'));
      let settled = 0;
      void q.writable()!.then(() => settled++);
      socket.drain(q); // b goes, c still waits
      await Promise.resolve();
      assert.equal(settled, 0);
      socket.drain(q);
      await Promise.resolve();
      assert.equal(settled, 1);
      q.push(frame('d'));
      const waiting = q.writable()!;
      q.close();
      await waiting;
    },
  );

  it('reports since when data has been waiting, here or in the socket', () => {
    let now = 1000;
    const socket = fakeSocket({ capacity: 10 });
    const q = new SendQueue(socket.sink, () => now);
    assert.equal(q.oldestAt(), undefined);
    q.push(frame('a'));
    q.observeSocket(1000);
    assert.equal(q.oldestAt(), 1000);
    now = 5000;
    q.push(frame('b'));
    q.observeSocket(5000);
    assert.equal(q.oldestAt(), 1000);
    socket.drain(q);
    socket.drain(q);
    q.observeSocket(6000);
    assert.equal(q.oldestAt(), undefined);
  });

  it("keeps each queue's waiting frames its own (an idle queue holds no array of its own)", () => {
    const slow = fakeSocket({ capacity: 10 });
    const fast = fakeSocket({ bytesPerFrame: 10, capacity: 10 });
    const a = new SendQueue(slow.sink);
    const b = new SendQueue(fast.sink);
    const idle = new SendQueue(fakeSocket().sink);
    a.push(frame('a1'));
    a.push(frame('a2'));
    a.push(frame('a3'));
    assert.equal(a.length, 2);
    assert.equal(b.length, 0);
    assert.equal(idle.length, 0);
    b.push(frame('b1'));
    assert.deepEqual(fast.written, ['b1']);
    slow.drain(a);
    slow.drain(a);
    assert.deepEqual(slow.written, ['a1', 'a2', 'a3']);
    assert.equal(idle.oldestAt(), undefined);
  });
});
