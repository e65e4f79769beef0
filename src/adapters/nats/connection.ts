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
 * Dials NATS with the seed's connect, reconnect and ping settings. With retry_on_failed_connect
 * the first connection is retried until connect_timeout_seconds has passed.
 */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  const deadline = Date.now() + Math.max(1, options.connectTimeoutSeconds) * 1000;
  for (;;) {
    try {
      return await connect({
        servers: options.url.split(',').map((s) => s.trim()),
        name: options.name,
        timeout: Math.max(1, options.connectTimeoutSeconds) * 1000,
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
