/**
 * Route set members as the routing pod last read them, for at most `ttlMs`. An entry is dropped
 * as soon as any pod announces that it joined the route (RouteRegistry.onAdded), so a session
 * that selects a chat on another pod is routed to at once; the TTL only bounds how long a pod
 * that left (or a Go replica, which does not announce) stays in or out of the cached set.
 */
export class RouteCache {
  private readonly entries = new Map<string, { members: string[]; until: number }>();
  private invalidations = 0;

  constructor(private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  get(routeKey: string): string[] | undefined {
    const entry = this.entries.get(routeKey);
    if (!entry) return undefined;
    if (entry.until > this.now()) return entry.members;
    this.entries.delete(routeKey);
    return undefined;
  }

  /** A token to pass to set(): a read that overlapped an announcement is not cached. */
  epoch(): number {
    return this.invalidations;
  }

  set(routeKey: string, members: string[], epoch: number): void {
    if (epoch !== this.invalidations) return;
    this.entries.set(routeKey, { members, until: this.now() + this.ttlMs });
  }

  invalidate(routeKey: string): void {
    this.invalidations++;
    this.entries.delete(routeKey);
  }
}
