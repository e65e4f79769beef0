import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { plainAddress } from '../../domain/addresses.js';
import { systemClock, type Clock } from '../../domain/clock.js';

const SWEEP_MS = 500;
/** A connection idle for less than this is not counted against its address. */
const IDLE_COUNTED_MS = 1000;

export interface GuardLimits {
  /** TCP connections kept open at most (sessions included); 0: no limit. */
  sockets(): number;
  /** Idle connections of one address kept at most; 0: no limit. */
  idlePerAddress(): number;
  /** How long a new connection has to complete its first request. */
  readTimeoutMs(): number;
}

interface Idle {
  since: number;
  /** It has not completed a request yet. */
  fresh: boolean;
}

/**
 * Keeps TCP connections that are not sessions from taking the descriptors that sessions and the
 * probes need. A connection is idle while it has no request in progress and is not a WebSocket
 * (it never sent a request, or it is a keep-alive between requests):
 *
 * - one address holds at most `idlePerAddress` connections that have been idle for a second or
 *   more; the oldest beyond that are closed (at most half a second later). A burst of new
 *   connections from one address — a reconnect storm behind a NAT — sends its requests within
 *   milliseconds and is never counted;
 * - at `sockets` connections, a new one closes the oldest idle connection rather than being
 *   refused itself, so that `/health` and `/ready` always get in;
 * - a connection that has not completed a request within app.read_timeout_seconds of being
 *   opened is closed (Node's own headersTimeout starts only once bytes arrive, and is looked at
 *   every 30 s by default: a socket that sends nothing would stay).
 */
export class ConnectionGuard {
  /** Idle connections and since when, the oldest first (a Map keeps insertion order). */
  private readonly idle = new Map<Socket, Idle>();
  private open = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: GuardLimits,
    private readonly now: Clock = systemClock,
  ) {}

  attach(server: Server): void {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
    server.once('close', () => clearInterval(this.sweeper));
    server.on('connection', (socket: Socket) => this.accepted(socket));
    server.on('request', (req, res) => {
      const socket = req.socket;
      this.busy(socket);
      res.once('finish', () => this.idleAgain(socket));
    });
    server.on('upgrade', (req) => this.busy(req.socket));
  }

  /** Connections open now (for tests and the log). */
  get size(): number {
    return this.open;
  }

  private accepted(socket: Socket): void {
    this.open++;
    socket.once('close', () => {
      this.open--;
      this.busy(socket);
    });
    const cap = this.limits.sockets();
    if (cap > 0 && this.open > cap && !this.evictOldestIdle()) return void socket.destroy();
    this.idleAgain(socket, true);
  }

  private idleAgain(socket: Socket, fresh = false): void {
    if (!socket.destroyed && !this.idle.has(socket)) this.idle.set(socket, { since: this.now(), fresh });
  }

  private busy(socket: Socket): void {
    this.idle.delete(socket);
  }

  private sweep(): void {
    this.closeLate();
    this.closeCrowds();
  }

  /** New connections that did not complete a request within the read timeout. */
  private closeLate(): void {
    const late = this.now() - this.limits.readTimeoutMs();
    for (const [socket, { since, fresh }] of this.idle) {
      if (since > late) break; // the rest are younger
      if (!fresh) continue;
      this.busy(socket);
      socket.destroy();
    }
  }

  /** Per address, the oldest of the connections idle for IDLE_COUNTED_MS beyond idlePerAddress. */
  private closeCrowds(): void {
    const max = this.limits.idlePerAddress();
    if (max <= 0 || this.idle.size <= max) return;
    const counted = this.now() - IDLE_COUNTED_MS;
    const byAddress = new Map<string, Socket[]>();
    for (const [socket, { since }] of this.idle) {
      if (since > counted) break; // the rest are younger
      const address = plainAddress(socket.remoteAddress ?? '');
      const list = byAddress.get(address);
      if (list) list.push(socket);
      else byAddress.set(address, [socket]);
    }
    for (const sockets of byAddress.values()) {
      for (const socket of sockets.slice(0, Math.max(0, sockets.length - max))) {
        this.busy(socket);
        socket.destroy();
      }
    }
  }

  private evictOldestIdle(): boolean {
    const oldest = this.idle.keys().next();
    if (oldest.done) return false;
    this.busy(oldest.value);
    oldest.value.destroy();
    return true;
  }
}
