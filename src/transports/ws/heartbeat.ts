import type { Config } from '../../platform/config/schema.js';
import type { Metrics } from '../../platform/metrics.js';
import type { Logger } from '../../domain/ports.js';
import { ErrorCodes, GatewayError } from '../../domain/errors.js';
import type { ClientConnection } from './client-connection.js';

/** The seed's pong timeout: an InternalServerError frame, close 1011 (CloseWithError). */
const pongTimeout = () => new GatewayError(ErrorCodes.Internal, 'Pong timeout', 'No pong or message received within the configured time.');
const slowClient = () => new GatewayError(ErrorCodes.Internal, 'Slow client', 'Frames waited longer than websocket_slow_client_disconnect_threshold_ms.');
const writeTimedOut = () => new GatewayError(ErrorCodes.Internal, 'Write timeout', 'A frame was not written within write_timeout_seconds.');

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
    const sessions = new Map<string, number>();
    for (const c of this.connections()) {
      queued.set(c.sessionLabel, (queued.get(c.sessionLabel) ?? 0) + c.queued);
      sessions.set(c.sessionLabel, (sessions.get(c.sessionLabel) ?? 0) + 1);
      if (!c.isOpen) continue;
      if (this.silent(c, now, app)) continue;
      if (this.slow(c, now, app)) continue;
      if (app.ping_interval_seconds > 0 && now - c.liveness.lastPingMs >= app.ping_interval_seconds * 1000) c.ping(now);
    }
    this.metrics.wsBufferUsed.reset();
    this.metrics.wsBufferCapacity.reset();
    for (const [label, count] of queued) this.metrics.wsBufferUsed.set({ session_key: label }, count);
    for (const [label, count] of sessions) this.metrics.wsBufferCapacity.set({ session_key: label }, count * app.websocket_message_buffer_size);
  }

  private silent(c: ClientConnection, now: number, app: Config['app']): boolean {
    const noPong = app.max_missed_pongs > 0 && c.liveness.unansweredPings > app.max_missed_pongs;
    const quiet = app.pong_wait_seconds > 0 && now - c.liveness.lastSeenMs > app.pong_wait_seconds * 1000;
    if (!noPong && !quiet) return false;
    c.terminate(pongTimeout(), 1011);
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
    if (app.websocket_slow_client_latency_ms > 0 && age > app.websocket_slow_client_latency_ms && c.liveness.slowSince === undefined) {
      c.liveness.slowSince = now;
      this.log.warn({ session_key: c.key, queued: c.queued, oldest_ms: age }, 'slow client');
    }
    const threshold = app.websocket_slow_client_disconnect_threshold_ms;
    const writeTimeout = app.write_timeout_seconds * 1000;
    if (threshold > 0 && age > threshold) {
      this.metrics.wsSlowDisconnected.inc();
      c.terminate(slowClient(), 1008);
      return true;
    }
    if (writeTimeout > 0 && age > writeTimeout) {
      c.terminate(writeTimedOut(), 1011);
      return true;
    }
    return false;
  }
}
