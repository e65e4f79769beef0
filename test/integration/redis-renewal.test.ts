import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { after, before, describe, it } from 'node:test';
import { RedisRouteRegistry } from '../../src/adapters/redis/route-registry.js';
import { RedisSessionLocks } from '../../src/adapters/redis/session-locks.js';
import { REDIS_ADDRESS, uid } from '../helpers/env.js';

/** The renewal loop's one-call-per-slice scripts, against the real Redis: the seed's rule per key. */
describe('renewing many locks and route sets in one call', () => {
  let redis: Redis;
  const k = uid('renew');
  before(() => void (redis = new Redis(REDIS_ADDRESS)));
  after(async () => {
    const made = await redis.keys(`*${k}*`);
    if (made.length) await redis.del(...made);
    redis.disconnect();
  });

  it('locks: renewed only where the value is still this pod, each with its own TTL', async () => {
    const locks = new RedisSessionLocks(redis);
    await redis.set(`session:${k}:mine`, 'pod-a', 'EX', 5);
    await redis.set(`session:${k}:other`, 'pod-b', 'EX', 5);
    const renewed = await locks.refresh([[`session:${k}:mine`, 40], [`session:${k}:other`, 40], [`session:${k}:gone`, 40]], 'pod-a');
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
    const renewed = await routes.refresh([[`route:${k}:a:chats`, 60], [`route:${k}:b:chats`, 60], [`route:${k}:c:chats`, 60]], 'pod-a');
    assert.deepEqual(renewed, [true, false, false]);
    assert.ok((await redis.ttl(`route:${k}:a:chats`)) > 50);
    assert.ok((await redis.ttl(`route:${k}:b:chats`)) <= 5);
  });
});
