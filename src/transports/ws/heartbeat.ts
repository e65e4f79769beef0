import { CloseCodes } from '../../domain/close-codes.js';
import type { Config } from '../../platform/config/schema.js';
import type { Metrics } from '../../platform/metrics.js';
import type { Logger } from '../../domain/ports.js';
import { systemClock, type Clock } from '../../domain/clock.js';
import type { ClientConnection } from './client-connection.js';
import { pongTimeout, slowClient, SLOW_CLIENT_CLOSE, tokenExpired, writeTimedOut } from './close-reasons.js';

/** Every connection is looked at once a round, a tenth of them at a time. */
const ROUND_MS = 1000;
const STEPS_PER_ROUND = 10;

/**
 * One timer for all connections (not one per connection): pings every
 * app.ping_interval_seconds, closes connections that went silent (pong_wait_seconds,
 * max_missed_pongs), whose frames are not written within write_timeout_seconds, or whose
 * oldest queued frame is older than the slow-client threshold.
 *
 * A round visits the connections in ten steps 100 ms apart rather than all at once: at 1,000
 * sessions a whole sweep (its pings a write system call each) held live events up for 2–3 ms
 * every second.
 */
export class HeartbeatSweeper {
  private timer: NodeJS.Timeout | undefined;
  private step = 0;
  private cursor: Iterator<ClientConnection> | undefined;
  private roundSize = 0;
  private visited = 0;
  private readonly queued = new Map<string, number>();
  private readonly sessions = new Map<string, number>();
  private queuedBytes = 0;

  constructor(
    private readonly connections: () => ReadonlySet<ClientConnection>,
    private readonly config: () => Config,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.sweepStep(this.clock()), ROUND_MS / STEPS_PER_ROUND);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * One step of a round: the next tenth of the connections there were when the round began; the last step takes the
   * rest.
   */
  private sweepStep(now: number): void {
    if (this.step === 0) {
      const all = this.connections();
      this.cursor = all[Symbol.iterator]();
      this.roundSize = all.size;
      this.visited = 0;
    }
    this.step++;
    const last = this.step === STEPS_PER_ROUND;
    const until = last ? Infinity : Math.ceil((this.roundSize * this.step) / STEPS_PER_ROUND);
    const app = this.config().app;
    while (this.visited < until) {
      const next = this.cursor!.next();
      if (next.done) break;
      this.visited++;
      this.visit(next.value, now, app);
    }
    if (last) {
      this.step = 0;
      this.cursor = undefined;
      this.publishBufferGauges(app);
    }
  }

  private visit(c: ClientConnection, now: number, app: Config['app']): void {
    this.queued.set(c.sessionLabel, (this.queued.get(c.sessionLabel) ?? 0) + c.queued);
    this.sessions.set(c.sessionLabel, (this.sessions.get(c.sessionLabel) ?? 0) + 1);
    this.queuedBytes += c.queuedBytes;
    if (!c.isOpen) return;
    if (c.expired(now)) {
      c.terminate(tokenExpired());
      return;
    }
    if (this.silent(c, now, app)) return;
    if (this.slow(c, now, app)) return;
    if (app.ping_interval_seconds > 0 && now - c.liveness.lastPingMs >= app.ping_interval_seconds * 1000) c.ping(now);
  }

  private publishBufferGauges(app: Config['app']): void {
    this.metrics.wsBufferUsed.reset();
    this.metrics.wsBufferCapacity.reset();
    for (const [label, count] of this.queued) this.metrics.wsBufferUsed.set({ session_key: label }, count);
    for (const [label, count] of this.sessions)
      this.metrics.wsBufferCapacity.set({ session_key: label }, count * app.websocket_message_buffer_size);
    this.metrics.queuedBytes.set(this.queuedBytes);
    this.queued.clear();
    this.sessions.clear();
    this.queuedBytes = 0;
  }

  private silent(c: ClientConnection, now: number, app: Config['app']): boolean {
    const noPong = app.max_missed_pongs > 0 && c.liveness.unansweredPings > app.max_missed_pongs;
    const quiet = app.pong_wait_seconds > 0 && now - c.liveness.lastSeenMs > app.pong_wait_seconds * 1000;
    if (!noPong && !quiet) return false;
    c.terminate(pongTimeout(), CloseCodes.InternalError);
    return true;
  }

  private slow(c: ClientConnection, now: number, app: Config['app']): boolean {
    c.observe(now);
    const oldest = c.oldestQueuedAt();
    if (oldest === undefined) {
      c.liveness.slowSince = undefined;
      return false;
    }
    const age = now - oldest;
    if (
      app.websocket_slow_client_latency_ms > 0 &&
      age > app.websocket_slow_client_latency_ms &&
      c.liveness.slowSince === undefined
    ) {
      c.liveness.slowSince = now;
      this.log.warn({ session_key: c.key, queued: c.queued, oldest_ms: age }, 'slow client');
    }
    const threshold = app.websocket_slow_client_disconnect_threshold_ms;
    const writeTimeout = app.write_timeout_seconds * 1000;
    if (threshold > 0 && age > threshold) {
      this.metrics.wsSlowDisconnected.inc();
      c.terminate(slowClient(), SLOW_CLIENT_CLOSE);
      return true;
    }
    if (writeTimeout > 0 && age > writeTimeout) {
      c.terminate(writeTimedOut(), CloseCodes.InternalError);
      return true;
    }
    return false;
  }
}
