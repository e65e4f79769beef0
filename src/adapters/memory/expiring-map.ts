import { systemClock, type Clock } from '../../domain/clock.js';

/**
 * A map whose entries expire, the in-process stand-in for Redis keys with TTLs in the embedded
 * single-node engine. Expired entries are dropped when read and by a periodic sweep.
 */
export class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly now: Clock = systemClock,
    sweepEveryMs = 10_000,
  ) {
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs);
    this.sweeper.unref();
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, ttlSeconds: number): void {
    this.entries.set(key, { value, expiresAt: this.now() + ttlSeconds * 1000 });
  }

  /** Sets a new TTL on a live entry; false when there is none. */
  expire(key: string, ttlSeconds: number): boolean {
    const value = this.get(key);
    if (value === undefined) return false;
    this.set(key, value, ttlSeconds);
    return true;
  }

  /** The live values. */
  *values(): IterableIterator<V> {
    for (const [, value] of this.live()) yield value;
  }

  /** The live keys and values. */
  *live(): IterableIterator<[string, V]> {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt > now) yield [key, entry.value];
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
