import type { Config } from '../platform/config/schema.js';
import { BoundedMap } from '../domain/bounded-map.js';
import { AuthFailure, ErrorCodes, GatewayError } from '../domain/errors.js';
import { systemClock, type Clock } from '../domain/clock.js';

const MINUTE_MS = 60_000;

interface Bucket {
  tokens: number;
  at: number;
}

interface FailureWindow {
  count: number;
  startedAt: number;
}

/**
 * The per-address limits (SECURITY.md, *Limits*), read from the live configuration on every call so that a
 * reload changes them at once: WebSocket upgrades per second (token bucket, burst twice the
 * rate) and failed authentications per minute (fixed window from the first failure), which refuses
 * only further failures, never a valid credential.
 */
export class AbuseLimits {
  private readonly buckets = new BoundedMap<Bucket>();
  private readonly failures = new BoundedMap<FailureWindow>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly config: () => Pick<Config, 'server' | 'auth'>,
    private readonly now: Clock = systemClock,
  ) {
    this.sweeper = setInterval(() => this.sweep(), MINUTE_MS);
    this.sweeper.unref();
  }

  /** Takes one upgrade from `address`'s bucket; throws 429 RateLimitExceeded when it is empty. */
  takeHandshake(address: string): void {
    const rate = this.config().server.handshake_rate_per_ip;
    if (rate <= 0) return;
    const now = this.now();
    const burst = 2 * rate;
    const bucket = this.buckets.get(address) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    this.buckets.set(address, bucket);
    if (bucket.tokens < 1) {
      throw new GatewayError(
        ErrorCodes.RateLimitExceeded,
        'Too many connection attempts',
        `At most ${rate} WebSocket upgrades per second from one address.`,
      );
    }
    bucket.tokens -= 1;
  }

  /**
   * Runs an authentication for `address`. A valid credential always passes: behind one office NAT a
   * hundred agents share an address, and one of them sending bad keys must not lock the others out.
   * A failure that is the client's fault counts; past auth.max_failures_per_ip_per_minute in the
   * minute from the first, each further failure from the address is answered 429 instead of its
   * 401/403, so a guesser learns nothing more from it and is told to stop.
   */
  async authenticate<T>(address: string, run: () => T | Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof AuthFailure && err.countsAgainstClient) this.recordFailure(address);
      throw err;
    }
  }

  /** Counts a failure; throws 429 once the address is past its failures for the minute. */
  private recordFailure(address: string): void {
    const limit = this.config().auth.max_failures_per_ip_per_minute;
    if (limit <= 0) return;
    const window = this.liveWindow(address) ?? { count: 0, startedAt: this.now() };
    window.count += 1;
    this.failures.set(address, window);
    if (window.count <= limit) return;
    const seconds = Math.ceil((window.startedAt + MINUTE_MS - this.now()) / 1000);
    throw new GatewayError(
      ErrorCodes.RateLimitExceeded,
      'Too many failed authentications',
      `More than ${limit} failed authentications from this address in a minute; try again in ${seconds} s.`,
    );
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private liveWindow(address: string): FailureWindow | undefined {
    const window = this.failures.get(address);
    return window && this.now() - window.startedAt < MINUTE_MS ? window : undefined;
  }

  /** Forgets windows that are over and buckets that have refilled. */
  private sweep(): void {
    const now = this.now();
    for (const [address, w] of this.failures) if (now - w.startedAt >= MINUTE_MS) this.failures.delete(address);
    for (const [address, b] of this.buckets) if (now - b.at >= MINUTE_MS) this.buckets.delete(address);
  }
}
