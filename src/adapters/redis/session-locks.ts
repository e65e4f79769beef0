import type { Redis } from 'ioredis';
import type { SessionLocks } from '../../domain/ports.js';
import { manyArgs, withScripts, type ScriptedRedis } from './scripts.js';
import { redisCall } from './failure.js';

export class RedisSessionLocks implements SessionLocks {
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis) {
    this.redis = withScripts(redis);
  }

  async acquire(key: string, owner: string, ttlSeconds: number): Promise<boolean> {
    return (await redisCall('session lock', this.redis.set(key, owner, 'EX', ttlSeconds, 'NX'))) === 'OK';
  }

  async forceAcquire(key: string, owner: string, ttlSeconds: number): Promise<void> {
    await redisCall('forcing a session lock', this.redis.set(key, owner, 'EX', ttlSeconds));
  }

  async release(key: string, owner: string): Promise<boolean> {
    return (await redisCall('releasing a session lock', this.redis.compareAndDelete(key, owner))) === 1;
  }

  async refresh(entries: ReadonlyArray<readonly [string, number]>, owner: string): Promise<boolean[]> {
    if (entries.length === 0) return [];
    const renewed = await redisCall(
      'renewing session locks',
      this.redis.compareAndExpireMany(...manyArgs(entries, owner)),
    );
    return renewed.map((r) => r === 1);
  }
}
