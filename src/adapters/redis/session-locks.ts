import type { Redis } from 'ioredis';
import type { SessionLocks } from '../../domain/ports.js';
import { withScripts, type ScriptedRedis } from './scripts.js';

export class RedisSessionLocks implements SessionLocks {
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis) {
    this.redis = withScripts(redis);
  }

  async acquire(key: string, owner: string, ttlSeconds: number): Promise<boolean> {
    return (await this.redis.set(key, owner, 'EX', ttlSeconds, 'NX')) === 'OK';
  }

  async forceAcquire(key: string, owner: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(key, owner, 'EX', ttlSeconds);
  }

  async release(key: string, owner: string): Promise<boolean> {
    return (await this.redis.compareAndDelete(key, owner)) === 1;
  }

  async refresh(key: string, owner: string, ttlSeconds: number): Promise<boolean> {
    return (await this.redis.compareAndExpire(key, owner, ttlSeconds)) === 1;
  }
}
