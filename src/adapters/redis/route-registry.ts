import type { Redis } from 'ioredis';
import type { RouteRegistry } from '../../domain/ports.js';
import { manyArgs, withScripts, type ScriptedRedis } from './scripts.js';
import { redisCall } from './failure.js';

/** Route sets (docs/protocol.md, *Redis*): daisi-ws pods write them so that Go replicas can push events to them. */
export class RedisRouteRegistry implements RouteRegistry {
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis) {
    this.redis = withScripts(redis);
  }

  async add(routeKey: string, podId: string, ttlSeconds: number): Promise<void> {
    await redisCall('adding a route', this.redis.multi().sadd(routeKey, podId).expire(routeKey, ttlSeconds).exec());
  }

  async remove(routeKey: string, podId: string): Promise<void> {
    await redisCall('removing a route', this.redis.srem(routeKey, podId));
  }

  async podIds(): Promise<Set<string>> {
    const ids = new Set<string>();
    for await (const keys of this.routeSets()) {
      const pipeline = this.redis.pipeline();
      for (const key of keys) pipeline.smembers(key);
      for (const [, members] of (await redisCall('reading routes', pipeline.exec())) ?? [])
        for (const m of (members as string[] | null) ?? []) ids.add(m);
    }
    return ids;
  }

  async routesOf(podId: string): Promise<string[]> {
    const found: string[] = [];
    for await (const keys of this.routeSets()) {
      const pipeline = this.redis.pipeline();
      for (const key of keys) pipeline.sismember(key, podId);
      const answers = (await redisCall('reading routes', pipeline.exec())) ?? [];
      for (const [i, [, member]] of answers.entries()) if (member === 1) found.push(keys[i]!);
    }
    return found;
  }

  /** Every route set's key, a SCAN page at a time (never KEYS: Redis serves others meanwhile). */
  private async *routeSets(): AsyncGenerator<string[]> {
    let cursor = '0';
    do {
      const [next, keys] = await redisCall(
        'listing routes',
        this.redis.scan(cursor, 'MATCH', 'route:*', 'COUNT', 1000, 'TYPE', 'set'),
      );
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }

  async refresh(entries: ReadonlyArray<readonly [string, number]>, podId: string): Promise<boolean[]> {
    if (entries.length === 0) return [];
    const renewed = await redisCall('renewing routes', this.redis.memberAndExpireMany(...manyArgs(entries, podId)));
    return renewed.map((r) => r === 1);
  }
}
