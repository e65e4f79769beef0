import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsConnectionError } from '../../domain/errors.js';

export interface NatsOptions {
  url: string;
  name: string;
  connectTimeoutSeconds: number;
  reconnectWaitSeconds: number;
  maxReconnects: number;
  pingIntervalSeconds: number;
  maxPingsOut: number;
  retryOnFailedConnect: boolean;
}

/**
 * With retries, how long one attempt may take: a connection the server accepted but never answered is dropped and
 * dialled again.
 */
const ATTEMPT_TIMEOUT_MS = 2000;

/**
 * Dials NATS with the Go service's connect, reconnect and ping settings. With retry_on_failed_connect
 * the first connection is retried until connect_timeout_seconds has passed, each attempt given at
 * most ATTEMPT_TIMEOUT_MS of it (one stuck attempt must not use up the whole window).
 */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  const windowMs = Math.max(1, options.connectTimeoutSeconds) * 1000;
  const deadline = Date.now() + windowMs;
  for (;;) {
    const remainingMs = Math.max(250, deadline - Date.now());
    try {
      return await connect({
        servers: options.url.split(',').map((s) => s.trim()),
        name: options.name,
        timeout: options.retryOnFailedConnect ? Math.min(ATTEMPT_TIMEOUT_MS, remainingMs) : windowMs,
        reconnect: options.maxReconnects !== 0,
        maxReconnectAttempts: options.maxReconnects,
        reconnectTimeWait: options.reconnectWaitSeconds * 1000,
        pingInterval: options.pingIntervalSeconds * 1000,
        maxPingOut: options.maxPingsOut,
      });
    } catch (err) {
      if (!options.retryOnFailedConnect || Date.now() >= deadline) {
        throw new NatsConnectionError(`nats unreachable at ${options.url} (${(err as Error).message})`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
