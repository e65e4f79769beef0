/** What an inbound frame gets under app.max_client_frames_per_second. */
export type RateVerdict = 'pass' | 'warn' | 'ignore' | 'close';

/**
 * Inbound frames of one connection in fixed one-second windows: up to the limit they pass; the
 * first one over it gets a warning (RateLimitExceeded error frame), the rest are ignored; over
 * twice the limit the connection is closed (4429). The limit is given at each frame (live
 * configuration).
 */
export class FrameRateLimit {
  private windowStart = 0;
  private frames = 0;

  check(now: number, limit: number): RateVerdict {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.frames = 0;
    }
    this.frames++;
    if (this.frames <= limit) return 'pass';
    if (this.frames > 2 * limit) return 'close';
    return this.frames === limit + 1 ? 'warn' : 'ignore';
  }
}
