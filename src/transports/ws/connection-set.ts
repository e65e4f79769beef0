import type { Config } from '../../platform/config/schema.js';
import type { Logger } from '../../domain/ports.js';
import type { Metrics } from '../../platform/metrics.js';
import type { GatewayError } from '../../domain/errors.js';
import type { Identity } from '../../domain/session.js';
import type { SessionManager } from '../../services/session-manager.js';
import type { Clock } from '../../domain/clock.js';
import type { ClientConnection } from './client-connection.js';
import { HeartbeatSweeper } from './heartbeat.js';

/**
 * The pod's open WebSocket sessions: counted as they open and close, swept by the heartbeat, and drained at
 * shutdown (every session told, its lock and routes released, the sockets given a grace to close).
 */
export class ConnectionSet {
  readonly open = new Set<ClientConnection>();
  /** Connections whose socket is not closed yet (a closing one waits for the close handshake). */
  private readonly sockets = new Set<ClientConnection>();
  private readonly detaching = new Set<Promise<void>>();
  private readonly heartbeat: HeartbeatSweeper;

  constructor(
    private readonly deps: {
      config: () => Config;
      metrics: Metrics;
      log: Logger;
      sessions: Pick<SessionManager, 'detach'>;
      clock: Clock;
    },
  ) {
    this.heartbeat = new HeartbeatSweeper(() => this.open, deps.config, deps.metrics, deps.log, deps.clock);
    this.heartbeat.start();
  }

  get size(): number {
    return this.open.size;
  }

  added(connection: ClientConnection): void {
    this.sockets.add(connection);
    this.open.add(connection);
    this.deps.metrics.connectionsTotal.inc();
    this.deps.metrics.activeConnections.inc();
  }

  /** The session is over: its lock and routes are released (detach), and the close is logged. */
  closed(connection: ClientConnection): void {
    const { metrics, log } = this.deps;
    this.open.delete(connection);
    metrics.activeConnections.dec();
    const seconds = (this.deps.clock() - connection.connectedAt) / 1000;
    metrics.connectionDuration.observe(seconds);
    const detached = this.deps.sessions.detach(connection).finally(() => this.detaching.delete(detached));
    this.detaching.add(detached);
    if (log.isLevelEnabled('info')) {
      log.info(
        {
          ...logFields(connection.identity),
          request_id: connection.requestId,
          connection_id: connection.id,
          code: connection.closeCode,
          reason: connection.closeReason,
          duration_s: seconds,
        },
        'session closed',
      );
    }
  }

  socketClosed(connection: ClientConnection): void {
    this.sockets.delete(connection);
  }

  /** Closes every session with the error frame of `error` and `closeCode`. */
  closeAll(error: GatewayError, closeCode?: number): void {
    this.heartbeat.stop();
    for (const c of this.open) c.terminate(error, closeCode);
  }

  /** Resolves once every closed session has released its lock and routes (or after `timeoutMs`). */
  async released(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([Promise.all(this.detaching), timeout]);
    clearTimeout(timer);
  }

  /** Waits up to `graceMs` for close handshakes, then drops the sockets still open. */
  async dropSockets(graceMs: number): Promise<void> {
    const deadline = this.deps.clock() + graceMs;
    while (this.sockets.size > 0 && this.deps.clock() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const connection of this.sockets) connection.socket.terminate();
  }
}

export function logFields(identity: Identity): Record<string, string> {
  return identity.kind === 'user'
    ? { company_id: identity.companyId, agent_id: identity.agentId, user_id: identity.userId }
    : { admin_id: identity.adminId, user_id: identity.adminId };
}
