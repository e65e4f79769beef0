import type { Redis } from 'ioredis';
import { keys } from '../../domain/keys.js';
import type { ActivityStore } from '../../domain/ports.js';

/** `<key>:last_active` = unix seconds, written in one pipeline per renewal tick. */
export class RedisActivityStore implements ActivityStore {
  constructor(private readonly redis: Redis) {}

  async touch(baseKeys: string[], ttlSeconds: number, nowMs: number): Promise<void> {
    if (baseKeys.length === 0) return;
    const seconds = String(Math.floor(nowMs / 1000));
    const pipeline = this.redis.pipeline();
    for (const key of baseKeys) pipeline.set(keys.lastActive(key), seconds, 'EX', ttlSeconds);
    await pipeline.exec();
  }
}
