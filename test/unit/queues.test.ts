import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker } from '../../src/adapters/grpc/circuit-breaker.js';
import { payloadJsonOf, toPushEventRequest } from '../../src/adapters/grpc/payload-codec.js';
import { KeyedQueue } from '../../src/services/keyed-queue.js';
import { SendQueue } from '../../src/transports/ws/send-queue.js';

/** A socket that takes frames but only "writes" them when told to. */
function fakeSocket(bufferedPerFrame = 70 * 1024) {
  const pending: Array<{ frame: Buffer; written: () => void }> = [];
  const dropped: string[] = [];
  return {
    pending,
    dropped,
    sink: {
      bufferedAmount: () => pending.length * bufferedPerFrame,
      write: (frame: Buffer, written: () => void) => void pending.push({ frame, written }),
      dropped: (reason: string) => void dropped.push(reason),
    },
    writeOne: () => pending.shift()!.written(),
  };
}

describe('SendQueue', () => {
  it('drops the oldest waiting frame when full (drop_oldest)', () => {
    const socket = fakeSocket();
    const q = new SendQueue(3, 'drop_oldest', socket.sink);
    for (const n of [1, 2, 3, 4, 5, 6]) q.push(Buffer.from(String(n)));
    // frame 1 went to the socket (above high water after it); 2 and 3 were dropped for 5 and 6.
    assert.equal(q.waitingCount, 3);
    assert.equal(q.length, 4);
    assert.deepEqual(socket.dropped, ['buffer_full_dropped_oldest', 'buffer_full_dropped_oldest']);
    const written: string[] = [];
    while (socket.pending.length > 0) {
      written.push(socket.pending[0]!.frame.toString());
      socket.writeOne();
    }
    assert.deepEqual(written, ['1', '4', '5', '6']);
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
    const seen: string[] = [];
    const drain = () => {
      const next = socket.pending[0];
      if (next) seen.push(next.frame.toString());
      socket.writeOne();
    };
    drain();
    await blocked;
    drain();
    drain();
    assert.deepEqual(seen, ['1', '2', '3']);
    assert.deepEqual(socket.dropped, []);
  });

  it('reports the age of the oldest unwritten frame', () => {
    const socket = fakeSocket();
    const q = new SendQueue(10, 'drop_oldest', socket.sink);
    assert.equal(q.oldestAt(), undefined);
    q.push(Buffer.from('a'), 1000);
    q.push(Buffer.from('b'), 2000);
    assert.equal(q.oldestAt(), 2000);
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
