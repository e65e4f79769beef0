import type { SessionLocks } from '../../domain/ports.js';
import { ExpiringMap } from './expiring-map.js';

/** Session locks of the embedded engine: the same SET NX / compare-and-* semantics as Redis. */
export class MemorySessionLocks implements SessionLocks {
  constructor(private readonly map = new ExpiringMap<string>()) {}

  async acquire(key: string, owner: string, ttlSeconds: number): Promise<boolean> {
    if (this.map.get(key) !== undefined) return false;
    this.map.set(key, owner, ttlSeconds);
    return true;
  }

  async forceAcquire(key: string, owner: string, ttlSeconds: number): Promise<void> {
    this.map.set(key, owner, ttlSeconds);
  }

  async release(key: string, owner: string): Promise<boolean> {
    return this.map.get(key) === owner && this.map.delete(key);
  }

  async refresh(entries: ReadonlyArray<readonly [string, number]>, owner: string): Promise<boolean[]> {
    return entries.map(([key, ttlSeconds]) => this.map.get(key) === owner && this.map.expire(key, ttlSeconds));
  }
}
