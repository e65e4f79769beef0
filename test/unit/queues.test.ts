import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker } from '../../src/adapters/grpc/circuit-breaker.js';
import { payloadJsonOf, toPushEventRequest } from '../../src/adapters/grpc/payload-codec.js';
import { KeyedQueue } from '../../src/services/keyed-queue.js';
import { SendQueue } from '../../src/transports/ws/send-queue.js';

/** A socket whose buffer fills with every frame until the test lets it drain. */
function fakeSocket(bytesPerFrame = 70 * 1024) {
  const written: string[] = [];
  const dropped: string[] = [];
  let buffered = 0;
  return {
    written,
    dropped,
    sink: {
      bufferedAmount: () => buffered,
      write: (frame: Buffer) => {
        written.push(frame.toString());
        buffered += bytesPerFrame;
      },
      dropped: (reason: string) => void dropped.push(reason),
    },
    drain: (q: SendQueue) => {
      buffered = 0;
      q.drained();
    },
  };
}

describe('SendQueue', () => {
  it('writes straight through while the socket has room', () => {
    const socket = fakeSocket(10);
    const q = new SendQueue(2, 'drop_oldest', socket.sink);
    for (const n of [1, 2, 3, 4, 5]) q.push(Buffer.from(String(n)));
    assert.deepEqual(socket.written, ['1', '2', '3', '4', '5']);
    assert.equal(q.length, 0);
  });

  it('drops the oldest waiting frame when full (drop_oldest)', () => {
    const socket = fakeSocket();
    const q = new SendQueue(3, 'drop_oldest', socket.sink);
    for (const n of [1, 2, 3, 4, 5, 6]) q.push(Buffer.from(String(n)));
    // 1 went to the socket and filled it; 2 and 3 were dropped to make room for 5 and 6.
    assert.equal(q.length, 3);
    assert.deepEqual(socket.dropped, ['buffer_full_dropped_oldest', 'buffer_full_dropped_oldest']);
    for (let i = 0; i < 3; i++) socket.drain(q);
    assert.deepEqual(socket.written, ['1', '4', '5', '6']);
    assert.equal(q.length, 0);
  });

  it('makes the producer wait when full (block) and keeps every frame in order', async () => {
    const socket = fakeSocket();
    const q = new SendQueue(1, 'block', socket.sink);
    q.push(Buffer.from('1'));
    q.push(Buffer.from('2'));
    const blocked = q.push(Buffer.from('3'));
    assert.ok(blocked instanceof Promise);
    let resolved = false;
    void blocked.then(() => (resolved = true));
    await Promise.resolve();
    assert.equal(resolved, false);
    socket.drain(q);
    await blocked;
    socket.drain(q);
    assert.deepEqual(socket.written, ['1', '2', '3']);
    assert.deepEqual(socket.dropped, []);
  });

  it('reports since when data has been waiting, here or in the socket', () => {
    const socket = fakeSocket();
    const q = new SendQueue(10, 'drop_oldest', socket.sink);
    assert.equal(q.oldestAt(), undefined);
    q.push(Buffer.from('a'));
    q.observeSocket(1000);
    assert.equal(q.oldestAt(), 1000);
    q.push(Buffer.from('b'));
    q.observeSocket(5000);
    assert.equal(q.oldestAt(), 1000);
    socket.drain(q);
    socket.drain(q);
    q.observeSocket(6000);
    assert.equal(q.oldestAt(), undefined);
  });

  it('releases blocked producers when closed', async () => {
    const socket = fakeSocket();
    const q = new SendQueue(1, 'block', socket.sink);
    q.push(Buffer.from('1'));
    q.push(Buffer.from('2'));
    const blocked = q.push(Buffer.from('3'))!;
    q.close();
    await blocked;
    assert.deepEqual(socket.dropped, ['buffer_full_block_closed']);
  });
});

describe('KeyedQueue', () => {
  it('runs one task at a time per key, in order, and keys concurrently', async () => {
    const q = new KeyedQueue();
    const log: string[] = [];
    const task = (name: string, ms: number) => () => new Promise<void>((r) => setTimeout(() => (log.push(name), r()), ms));
    await Promise.all([q.run('a', task('a1', 20)), q.run('a', task('a2', 1)), q.run('b', task('b1', 5))]);
    assert.deepEqual(log, ['b1', 'a1', 'a2']);
    assert.equal(q.size, 0);
  });

  it('keeps going after a failed task', async () => {
    const q = new KeyedQueue();
    await assert.rejects(q.run('a', async () => { throw new Error('boom'); }));
    assert.equal(await q.run('a', async () => 42), 42);
  });
});

describe('CircuitBreaker', () => {
  it('opens after the threshold, for the open duration, and closes on success', () => {
    let now = 0;
    const cb = new CircuitBreaker(3, 1000, () => now);
    assert.equal(cb.recordFailure(), false);
    assert.equal(cb.recordFailure(), false);
    assert.equal(cb.recordFailure(), true);
    assert.equal(cb.isOpen(), true);
    now = 1001;
    assert.equal(cb.isOpen(), false);
    cb.recordSuccess();
    assert.equal(cb.recordFailure(), false);
  });
});

describe('PushEvent payload codec', () => {
  it('round-trips an event through the proto shape in the seed field order', () => {
    const payload = { row_data: { a: 1, b: 'x', c: [true, null], d: { e: 2.5 } }, event_id: 'e1', company_id: 'c', chat_id: 'k', event_time: 't' };
    const req = toPushEventRequest({ companyId: 'c', agentId: 'a', chatId: 'k', payload, requestId: undefined }, 'pod-1');
    assert.equal(req.source_pod_id, 'pod-1');
    assert.equal(
      payloadJsonOf(req.payload!),
      '{"event_id":"e1","event_time":"t","company_id":"c","chat_id":"k","row_data":{"a":1,"b":"x","c":[true,null],"d":{"e":2.5}}}',
    );
  });
});

describe('RouteCache', () => {
  it('serves members until the TTL, drops them when a join is announced, and never caches a read that overlapped one', async () => {
    const { RouteCache } = await import('../../src/services/route-cache.js');
    let now = 0;
    const cache = new RouteCache(1000, () => now);
    cache.set('r', ['a'], cache.epoch());
    assert.deepEqual(cache.get('r'), ['a']);
    now = 1001;
    assert.equal(cache.get('r'), undefined);
    cache.set('r', ['a'], cache.epoch());
    cache.invalidate('r');
    assert.equal(cache.get('r'), undefined);
    const epoch = cache.epoch();
    cache.invalidate('other'); // an announcement arrives while the read is in flight
    cache.set('r', ['a'], epoch);
    assert.equal(cache.get('r'), undefined);
  });
});
