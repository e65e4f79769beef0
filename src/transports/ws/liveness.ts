/**
 * What the HeartbeatSweeper knows of one connection: when the peer was last heard from, when it
 * was last pinged and how many pings in a row went unanswered, and since when it has been slow.
 */
export class Liveness {
  lastSeenMs: number;
  lastPingMs: number;
  unansweredPings = 0;
  slowSince: number | undefined;

  /**
   * `pingIntervalMs`: the first ping falls anywhere in the first interval, so that sessions that connected together are
   * not all pinged in one sweep. `now`: when the connection opened.
   */
  constructor(pingIntervalMs: number, now: number) {
    this.lastSeenMs = now;
    this.lastPingMs = now - Math.random() * pingIntervalMs;
  }

  /** A frame or a pong arrived. */
  heard(now: number): void {
    this.lastSeenMs = now;
    this.unansweredPings = 0;
  }

  pinged(now: number): void {
    this.lastPingMs = now;
    this.unansweredPings++;
  }
}
