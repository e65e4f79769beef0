import type { Config } from '../../app/config/schema.js';
import type { Metrics } from '../../app/metrics.js';
import type { Logger } from '../../app/logger.js';
import type { ClientConnection } from './client-connection.js';

const SWEEP_EVERY_MS = 1000;

/**
 * One timer for all connections (not one per connection): pings every
 * app.ping_interval_seconds, closes connections that went silent (pong_wait_seconds,
 * max_missed_pongs), whose frames are not written within write_timeout_seconds, or whose
 * oldest queued frame is older than the slow-client threshold.
 */
export class HeartbeatSweeper {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly connections: () => Iterable<ClientConnection>,
    private readonly config: () => Config,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.sweep(Date.now()), SWEEP_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  sweep(now: number): void {
    const app = this.config().app;
    const queued = new Map<string, number>();
    for (const c of this.connections()) {
      queued.set(c.sessionLabel, (queued.get(c.sessionLabel) ?? 0) + c.queued);
      if (!c.isOpen) continue;
      if (this.silent(c, now, app)) continue;
      if (this.slow(c, now, app)) continue;
      if (app.ping_interval_seconds > 0 && now - c.lastPingMs >= app.ping_interval_seconds * 1000) c.ping(now);
    }
    this.metrics.wsBufferUsed.reset();
    for (const [label, count] of queued) this.metrics.wsBufferUsed.set({ session_key: label }, count);
  }

  private silent(c: ClientConnection, now: number, app: Config['app']): boolean {
    const noPong = app.max_missed_pongs > 0 && c.unansweredPings > app.max_missed_pongs;
    const quiet = app.pong_wait_seconds > 0 && now - c.lastSeenMs > app.pong_wait_seconds * 1000;
    if (!noPong && !quiet) return false;
    c.kill(1001, 'pong timeout');
    return true;
  }

  private slow(c: ClientConnection, now: number, app: Config['app']): boolean {
    c.observe(now);
    const oldest = c.oldestQueuedAt();
    if (oldest === undefined) {
      c.slowSince = undefined;
      return false;
    }
    const age = now - oldest;
    if (app.websocket_slow_client_latency_ms > 0 && age > app.websocket_slow_client_latency_ms && c.slowSince === undefined) {
      c.slowSince = now;
      this.log.warn({ session_key: c.key, queued: c.queued, oldest_ms: age }, 'slow client');
    }
    const threshold = app.websocket_slow_client_disconnect_threshold_ms;
    const writeTimeout = app.write_timeout_seconds * 1000;
    if (threshold > 0 && age > threshold) {
      this.metrics.wsSlowDisconnected.inc();
      c.kill(1008, 'slow client');
      return true;
    }
    if (writeTimeout > 0 && age > writeTimeout) {
      c.kill(1011, 'write timeout');
      return true;
    }
    return false;
  }
}
