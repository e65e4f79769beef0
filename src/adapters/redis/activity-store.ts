import type { Redis } from 'ioredis';
import { keys } from '../../domain/keys.js';
import type { ActivityStore } from '../../domain/ports.js';
import { WriteBehind } from './write-behind.js';

/** `<key>:last_active` = unix seconds, gathered into one pipeline per write window. */
export class RedisActivityStore implements ActivityStore {
  private readonly writes: WriteBehind;

  constructor(redis: Redis) {
    this.writes = new WriteBehind(redis);
  }

  touch(baseKeys: string[], ttlSeconds: number, nowMs: number): Promise<void> {
    const seconds = String(Math.floor(nowMs / 1000));
    // Writes set in one go share one flush, so the last one's promise answers for all of them.
    let written = Promise.resolve();
    for (const key of baseKeys) written = this.writes.set(keys.lastActive(key), seconds, ttlSeconds);
    return written;
  }
}
