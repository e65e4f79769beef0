import type { RouteRegistry } from '../../domain/ports.js';
import { ExpiringMap } from './expiring-map.js';

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

  async refresh(entries: ReadonlyArray<readonly [string, number]>, podId: string): Promise<boolean[]> {
    return entries.map(
      ([routeKey, ttlSeconds]) => this.map.get(routeKey)?.has(podId) === true && this.map.expire(routeKey, ttlSeconds),
    );
  }

  async routesOf(podId: string): Promise<string[]> {
    return [...this.map.live()].filter(([, set]) => set.has(podId)).map(([key]) => key);
  }

  async podIds(): Promise<Set<string>> {
    const ids = new Set<string>();
    for (const set of this.map.values()) for (const id of set) ids.add(id);
    return ids;
  }
}
