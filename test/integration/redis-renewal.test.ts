import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { after, before, describe, it } from 'node:test';
import { RedisRouteRegistry } from '../../src/adapters/redis/route-registry.js';
import { RedisSessionLocks } from '../../src/adapters/redis/session-locks.js';
import { WriteBehind } from '../../src/adapters/redis/write-behind.js';
import { REDIS_ADDRESS, uid } from '../helpers/env.js';
import { DependencyError } from '../../src/domain/errors.js';

let redis: Redis;
const k = uid('many');
before(() => {
  redis = new Redis(REDIS_ADDRESS);
});
after(async () => {
  const made = await redis.keys(`*${k}*`);
  if (made.length) await redis.del(...made);
  redis.disconnect();
});

/** The renewal loop's one-call-per-slice scripts, against the real Redis: the Go service's rule per key. */
describe('renewing many locks and route sets in one call', () => {
  it('locks: renewed only where the value is still this pod, each with its own TTL', async () => {
    const locks = new RedisSessionLocks(redis);
    await redis.set(`session:${k}:mine`, 'pod-a', 'EX', 5);
    await redis.set(`session:${k}:other`, 'pod-b', 'EX', 5);
    const renewed = await locks.refresh(
      [
        [`session:${k}:mine`, 40],
        [`session:${k}:other`, 40],
        [`session:${k}:gone`, 40],
      ],
      'pod-a',
    );
    assert.deepEqual(renewed, [true, false, false]);
    assert.ok((await redis.ttl(`session:${k}:mine`)) > 30);
    assert.ok((await redis.ttl(`session:${k}:other`)) <= 5);
    assert.equal(await redis.exists(`session:${k}:gone`), 0);
    assert.deepEqual(await locks.refresh([], 'pod-a'), []);
  });

  it('route sets: renewed only where this pod is a member', async () => {
    const routes = new RedisRouteRegistry(redis);
    await routes.add(`route:${k}:a:chats`, 'pod-a', 5);
    await routes.add(`route:${k}:b:chats`, 'pod-b', 5);
    const renewed = await routes.refresh(
      [
        [`route:${k}:a:chats`, 60],
        [`route:${k}:b:chats`, 60],
        [`route:${k}:c:chats`, 60],
      ],
      'pod-a',
    );
    assert.deepEqual(renewed, [true, false, false]);
    assert.ok((await redis.ttl(`route:${k}:a:chats`)) > 50);
    assert.ok((await redis.ttl(`route:${k}:b:chats`)) <= 5);
  });
});

/**
 * The write-behind (token cache entries, `:last_active` stamps): script calls of a slice each, against the real Redis.
 */
describe('writes gathered behind', () => {
  it('writes every key of a window of several slices with its own value and TTL', async () => {
    const writes = new WriteBehind(redis);
    const n = 300; // more than two slices
    let last: Promise<void> = Promise.resolve();
    for (let i = 0; i < n; i++) last = writes.set(`wb:${k}:${i}`, `v${i}`, 100 + i);
    await last;
    const values = await redis.mget(...Array.from({ length: n }, (_, i) => `wb:${k}:${i}`));
    assert.deepEqual(
      values,
      Array.from({ length: n }, (_, i) => `v${i}`),
    );
    for (const i of [0, 127, 128, 299]) {
      const ttl = await redis.ttl(`wb:${k}:${i}`);
      assert.ok(ttl > 100 + i - 5 && ttl <= 100 + i, `key ${i}: ttl ${ttl}`);
    }
  });

  it('a key written in two windows ends with the later value, even while the first is being written', async () => {
    const writes = new WriteBehind(redis);
    for (let i = 0; i < 20_000; i++) void writes.set(`wb:${k}:bulk:${i}`, 'old', 60);
    const first = writes.set(`wb:${k}:twice`, 'first', 60);
    await new Promise((resolve) => setTimeout(resolve, 25)); // the first window (157 slices) is being written
    const second = writes.set(`wb:${k}:twice`, 'second', 60);
    await Promise.all([first, second]);
    assert.equal(await redis.get(`wb:${k}:twice`), 'second');
  });

  it('a failed flush rejects every write of its window with the project error, the ioredis error its cause', async () => {
    const broken = new Redis(REDIS_ADDRESS, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    const writes = new WriteBehind(broken);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => writes.set(`wb:${k}:lost:${i}`, 'x', 60)),
    );
    const reasons = new Set(outcomes.map((o) => (o.status === 'rejected' ? o.reason : o.status)));
    assert.equal(reasons.size, 1, 'one failure for the whole window');
    const [err] = reasons;
    assert.ok(err instanceof DependencyError, String(err));
    assert.deepEqual([err.dependency, err.httpStatus], ['redis', 503]);
    assert.match(String((err.cause as Error).message), /Stream isn't writeable|enableOfflineQueue/);
    assert.equal(await redis.exists(`wb:${k}:lost:0`), 0);
    broken.disconnect();
  });
});
