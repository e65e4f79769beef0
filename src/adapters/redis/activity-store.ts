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

  async touch(baseKeys: string[], ttlSeconds: number, nowMs: number): Promise<void> {
    if (baseKeys.length === 0) return;
    const seconds = String(Math.floor(nowMs / 1000));
    // One key (a handshake's own stamp) without the arrays and promises of many.
    if (baseKeys.length === 1) return this.writes.set(keys.lastActive(baseKeys[0]!), seconds, ttlSeconds);
    await Promise.all(baseKeys.map((key) => this.writes.set(keys.lastActive(key), seconds, ttlSeconds)));
  }
}
