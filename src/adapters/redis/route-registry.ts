import type { Redis } from 'ioredis';
import type { RouteRegistry } from '../../domain/ports.js';
import { withScripts, type ScriptedRedis } from './scripts.js';

/** Route sets (SPEC §5): daisi-ws pods write them so that Go replicas can push events to them. */
export class RedisRouteRegistry implements RouteRegistry {
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis) {
    this.redis = withScripts(redis);
  }

  async add(routeKey: string, podId: string, ttlSeconds: number): Promise<void> {
    await this.redis.multi().sadd(routeKey, podId).expire(routeKey, ttlSeconds).exec();
  }

  async remove(routeKey: string, podId: string): Promise<void> {
    await this.redis.srem(routeKey, podId);
  }

  async refresh(routeKey: string, podId: string, ttlSeconds: number): Promise<boolean> {
    return (await this.redis.memberAndExpire(routeKey, podId, ttlSeconds)) === 1;
  }
}
