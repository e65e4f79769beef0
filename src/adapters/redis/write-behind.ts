import type { Redis } from 'ioredis';

/** How long writes wait for company: a burst of handshakes becomes one pipeline per window. */
const WINDOW_MS = 20;

/**
 * `SET key value EX ttl` writes nobody waits for (token cache entries, `:last_active` stamps),
 * gathered for WINDOW_MS and sent as one pipeline: a reconnect storm of 1,000 handshakes costs a
 * few dozen writes to Redis instead of thousands. A failed flush is reported, never retried (the
 * next handshake or renewal tick writes again).
 */
export class WriteBehind {
  private pending: Array<[key: string, value: string, ttlSeconds: number]> = [];
  private flushing: Promise<void> | undefined;

  constructor(private readonly redis: Redis, private readonly failed: (err: Error) => void = () => undefined) {}

  /** Resolves once the write has been sent and answered (or failed): one promise for every write of a window. */
  set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.pending.push([key, value, ttlSeconds]);
    return (this.flushing ??= new Promise((resolve) => setTimeout(resolve, WINDOW_MS)).then(() => this.flush()));
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.flushing = undefined;
    const pipeline = this.redis.pipeline();
    for (const [key, value, ttl] of batch) pipeline.set(key, value, 'EX', ttl);
    try {
      await pipeline.exec();
    } catch (err) {
      this.failed(err as Error);
    }
  }
}
