import type { Redis } from 'ioredis';
import type { TokenCache } from '../../domain/ports.js';
import { WriteBehind } from './write-behind.js';
import { redisCall } from './failure.js';

export class RedisTokenCache implements TokenCache {
  private readonly writes: WriteBehind;

  constructor(private readonly redis: Redis) {
    this.writes = new WriteBehind(redis);
  }

  async get(key: string): Promise<string | undefined> {
    return (await redisCall('reading the token cache', this.redis.get(key))) ?? undefined;
  }

  set(key: string, value: string, ttlSeconds: number): Promise<void> {
    return this.writes.set(key, value, ttlSeconds);
  }
}
