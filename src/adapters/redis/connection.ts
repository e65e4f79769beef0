import { Redis } from 'ioredis';
import { RedisConnectionError } from '../../domain/errors.js';

export interface RedisOptions {
  address: string;
  /** Sentinel addresses (host:port): when given, the master named `masterName` is asked of them. */
  sentinels: readonly string[];
  masterName: string;
  password: string;
  db: number;
  connectTimeoutMs: number;
}

export function parseAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(address.trim());
  return { host: m?.[1] || '127.0.0.1', port: m?.[2] ? Number(m[2]) : 6379 };
}

/**
 * Connects and PINGs once, so that a pod that cannot reach Redis at start says so and stops.
 * After that ioredis reconnects by itself with backoff; commands issued meanwhile wait in its
 * offline queue.
 */
export async function connectRedis(options: RedisOptions): Promise<Redis> {
  const where =
    options.sentinels.length > 0
      ? { sentinels: options.sentinels.map(parseAddress), name: options.masterName }
      : parseAddress(options.address);
  const client = new Redis({
    ...where,
    password: options.password || undefined,
    db: options.db,
    lazyConnect: true,
    enableAutoPipelining: true,
    connectTimeout: options.connectTimeoutMs,
    maxRetriesPerRequest: 3,
    retryStrategy: (times) => Math.min(100 * 2 ** times, 2000),
    // Sentinel: reconnect at a +switch-master rather than when the old master's socket finally fails, and
    // leave a master that was demoted under us (READONLY) for the one the sentinels name now.
    failoverDetector: true,
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
  });
  // Connection errors surface as failed commands; ioredis retries by itself. The first one is
  // kept to say why a start fails ("connect ECONNREFUSED …" rather than "Connection is closed.").
  let firstError: Error | undefined;
  client.on('error', (err: Error) => (firstError ??= err));
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    const cause = firstError ?? (err as Error);
    const at =
      options.sentinels.length > 0 ? `${options.masterName} via ${options.sentinels.join(',')}` : options.address;
    throw new RedisConnectionError(`redis unreachable at ${at} (${cause.message})`, { cause });
  }
  return client;
}
