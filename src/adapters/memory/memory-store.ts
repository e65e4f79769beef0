import type { ActivityStore, KillHandler, KillMessage, KillSwitch, RouteRegistry, SessionLocks, TokenCache } from '../../domain/ports.js';
import { keys } from '../../domain/keys.js';
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

  async refresh(key: string, owner: string, ttlSeconds: number): Promise<boolean> {
    return this.map.get(key) === owner && this.map.expire(key, ttlSeconds);
  }
}

export class MemoryRouteRegistry implements RouteRegistry {
  constructor(private readonly map = new ExpiringMap<Set<string>>()) {}

  async add(routeKey: string, podId: string, ttlSeconds: number): Promise<void> {
    const set = this.map.get(routeKey) ?? new Set<string>();
    set.add(podId);
    this.map.set(routeKey, set, ttlSeconds);
  }

  async remove(routeKey: string, podId: string): Promise<void> {
    const set = this.map.get(routeKey);
    if (!set) return;
    set.delete(podId);
    if (set.size === 0) this.map.delete(routeKey);
  }

  async refresh(routeKey: string, podId: string, ttlSeconds: number): Promise<boolean> {
    return this.map.get(routeKey)?.has(podId) === true && this.map.expire(routeKey, ttlSeconds);
  }

  async podIds(): Promise<Set<string>> {
    const ids = new Set<string>();
    for (const set of this.map.values()) for (const id of set) ids.add(id);
    return ids;
  }
}

export class MemoryActivityStore implements ActivityStore {
  constructor(private readonly map = new ExpiringMap<number>()) {}

  async touch(baseKeys: string[], ttlSeconds: number, nowMs: number): Promise<void> {
    for (const key of baseKeys) this.map.set(keys.lastActive(key), Math.floor(nowMs / 1000), ttlSeconds);
  }

  lastActive(baseKey: string): number | undefined {
    return this.map.get(keys.lastActive(baseKey));
  }
}

export class MemoryTokenCache implements TokenCache {
  constructor(private readonly map = new ExpiringMap<string>()) {}

  async get(key: string): Promise<string | undefined> {
    return this.map.get(key);
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.map.set(key, value, ttlSeconds);
  }
}

/** In one process every kill message reaches the only pod, which ignores its own. */
export class MemoryKillSwitch implements KillSwitch {
  private handler: KillHandler | undefined;

  async publish(channel: string, message: KillMessage): Promise<void> {
    const handler = this.handler;
    if (handler) queueMicrotask(() => handler(channel, message));
  }

  async listen(handler: KillHandler): Promise<void> {
    this.handler = handler;
  }

  async close(): Promise<void> {
    this.handler = undefined;
  }
}
