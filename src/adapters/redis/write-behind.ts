import type { Redis } from 'ioredis';
import { redisCall } from './failure.js';
import { withScripts, type ScriptedRedis } from './scripts.js';

/** How long writes wait for company: a burst of handshakes becomes one flush per window. */
const WINDOW_MS = 20;

/** Writes per Redis call. */
const SLICE = 128;

/**
 * `SET key value EX ttl` writes nobody waits for (token cache entries, `:last_active` stamps),
 * gathered for WINDOW_MS and sent as one script call per SLICE keys, each answered before the
 * next with a turn of the event loop between: a reconnect storm of 1,000 handshakes costs a few
 * dozen calls instead of thousands, and a renewal tick's 2,000 stamps do not hold up live events
 * (a pipeline of 2,100 SETs blocked the loop for ~45 ms: a command object, a promise and an
 * encoding per key). A failed flush rejects every write of its window with a DependencyError (the
 * ioredis error its cause), and is never retried: the next handshake or renewal tick writes again.
 */
export class WriteBehind {
  private pending: Array<[key: string, value: string, ttlSeconds: number]> = [];
  private flushing: Promise<void> | undefined;
  /** The flush under way: the next waits for it, so that a key written twice ends with its later value. */
  private writing: Promise<void> = Promise.resolve();
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis) {
    this.redis = withScripts(redis);
  }

  /** Resolves once the write has been sent and answered: one promise for every write of a window. */
  set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.pending.push([key, value, ttlSeconds]);
    if (!this.flushing) {
      const window = new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
      this.flushing = window.then(() => {
        // A failed flush rejects its own writes, not the next window's.
        this.writing = this.writing.catch(() => undefined).then(() => this.flush());
        return this.writing;
      });
    }
    return this.flushing;
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.flushing = undefined;
    for (let i = 0; i < batch.length; i += SLICE) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      await redisCall(
        'writing behind',
        this.redis.setMany(...setManyArgs(batch, i, Math.min(batch.length, i + SLICE))),
      );
    }
  }
}

function setManyArgs(batch: ReadonlyArray<[string, string, number]>, from: number, to: number): Array<string | number> {
  const args: Array<string | number> = [to - from];
  for (let i = from; i < to; i++) args.push(batch[i]![0]);
  for (let i = from; i < to; i++) args.push(batch[i]![1], batch[i]![2]);
  return args;
}
