import { readFileSync } from 'node:fs';

/**
 * What the process can hold: its open-file limit (the soft RLIMIT_NOFILE, which Node raises to the
 * hard limit at start), read from /proc/self/limits; undefined where there is none to read.
 */
export function openFileLimit(
  read: () => string = () => readFileSync('/proc/self/limits', 'utf8'),
): number | undefined {
  let text: string;
  try {
    text = read();
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  const value = Number(soft);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/**
 * Descriptors kept back from sessions: half for what the pod itself holds (Redis and its
 * subscriber, the NATS connections, the gRPC server and its peers, listeners, logs, the config
 * watch: a few dozen), half for connections that are not sessions (probes, token requests,
 * upgrades being checked). 5 % of the limit, at least 100.
 */
export function descriptorReserve(limit: number): number {
  return Math.max(100, Math.ceil(limit * 0.05));
}

export interface ConnectionBudget {
  /** WebSocket sessions the pod accepts (server.max_connections, or the derived default). */
  sessions: number;
  /** TCP connections it keeps open: the sessions and room for probes and handshakes. 0: no limit. */
  sockets: number;
}

/** server.max_connections when set; otherwise what the open-file limit leaves (0: no limit known). */
export function connectionBudget(configured: number, limit: number | undefined): ConnectionBudget {
  if (configured > 0) return { sessions: configured, sockets: configured + Math.max(100, Math.ceil(configured / 10)) };
  if (limit === undefined) return { sessions: 0, sockets: 0 };
  const reserve = descriptorReserve(limit);
  return { sessions: Math.max(1, limit - reserve), sockets: Math.max(1, limit - Math.ceil(reserve / 2)) };
}
