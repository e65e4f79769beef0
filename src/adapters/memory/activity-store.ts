import type { ActivityStore } from '../../domain/ports.js';
import { keys } from '../../domain/keys.js';
import { ExpiringMap } from './expiring-map.js';

export class MemoryActivityStore implements ActivityStore {
  constructor(private readonly map = new ExpiringMap<number>()) {}

  async touch(baseKeys: string[], ttlSeconds: number, nowMs: number): Promise<void> {
    for (const key of baseKeys) this.map.set(keys.lastActive(key), Math.floor(nowMs / 1000), ttlSeconds);
  }
}
