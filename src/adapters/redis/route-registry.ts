import type { Redis } from 'ioredis';
import type { RouteRegistry } from '../../domain/ports.js';
import { withScripts, type ScriptedRedis } from './scripts.js';

/** Channel on which daisi-ws pods announce "<pod id> <route key>" when they join a route (Go replicas do not). */
export const ROUTE_ADDED_CHANNEL = 'dws_route_added';

export class RedisRouteRegistry implements RouteRegistry {
  private readonly redis: ScriptedRedis;
  private subscriber: Redis | undefined;

  constructor(redis: Redis) {
    this.redis = withScripts(redis);
  }

  async add(routeKey: string, podId: string, ttlSeconds: number): Promise<void> {
    await this.redis.multi().sadd(routeKey, podId).expire(routeKey, ttlSeconds).publish(ROUTE_ADDED_CHANNEL, `${podId} ${routeKey}`).exec();
  }

  async onAdded(listener: (routeKey: string, podId: string) => void): Promise<void> {
    const subscriber = this.redis.duplicate({ enableAutoPipelining: false, maxRetriesPerRequest: null });
    subscriber.on('error', () => {});
    subscriber.on('message', (_channel: string, message: string) => {
      const space = message.indexOf(' ');
      if (space > 0) listener(message.slice(space + 1), message.slice(0, space));
    });
    this.subscriber = subscriber;
    await subscriber.subscribe(ROUTE_ADDED_CHANNEL);
  }

  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
  }

  async remove(routeKey: string, podId: string): Promise<void> {
    await this.redis.srem(routeKey, podId);
  }

  members(routeKey: string): Promise<string[]> {
    return this.redis.smembers(routeKey);
  }

  async refresh(routeKey: string, podId: string, ttlSeconds: number): Promise<boolean> {
    return (await this.redis.memberAndExpire(routeKey, podId, ttlSeconds)) === 1;
  }
}
