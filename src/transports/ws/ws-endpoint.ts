import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Config } from '../../platform/config/schema.js';
import type { Block, Logger } from '../../domain/ports.js';
import type { Metrics } from '../../platform/metrics.js';
import type { RefusalLog } from '../../platform/refusal-log.js';
import { AuthFailure, Blocked, ErrorCodes, GatewayError, toGatewayError } from '../../domain/errors.js';
import { idProblem } from '../../domain/ids.js';
import { originAllowed } from '../../domain/origins.js';
import { flatString } from './flat-string.js';
import { adminIdentity, companyIdentity, sameIdentity, type Identity } from '../../domain/session.js';
import type { Instant } from '../../domain/rfc3339.js';
import type { Session } from '../../services/session.js';
import type { AbuseLimits } from '../../services/abuse-limits.js';
import type { AuthService } from '../../services/auth-service.js';
import type { ResumeService } from '../../services/resume.js';
import type { SessionManager } from '../../services/session-manager.js';
import { checkClientKey, clientKeys } from '../../services/api-keys.js';
import { clientAddressOf, forgetPeerAddress } from '../shared/client-address.js';
import { clientApiKeyOf, headerValue, requestIdOf, webSocketTargetOf } from '../shared/request.js';
import { rejectUpgrade } from './refuse-upgrade.js';
import { ClientConnection, type ConnectionDeps } from './client-connection.js';
import { errorFrame, sinceOf } from './frames.js';
import { SUBPROTOCOL, SUBPROTOCOL_V2 } from './subprotocols.js';
import { HeartbeatSweeper } from './heartbeat.js';
import { Turns } from './turns.js';
import { systemClock, type Clock } from '../../domain/clock.js';

/** How long a refused json.v2 client has to complete the close handshake. */
const REFUSAL_GRACE_MS = 2000;

export interface WsEndpointDeps {
  config: () => Config;
  auth: AuthService;
  sessions: SessionManager;
  metrics: Metrics;
  log: Logger;
  touch(session: Session): void;
  resume: ResumeService;
  limits: AbuseLimits;
  refusals: RefusalLog;
  /** Sessions this pod accepts (server.max_connections, or what the open-file limit leaves; 0: no limit). */
  sessionLimit(): number;
  /** An operator's block on this identity, if one is in force. */
  blockOf(identity: Identity): Block | undefined;
  clock?: Clock;
}

/** What the upgrade asks for besides the session: a chat to select, a point to resume from. */
interface SessionStart {
  chatId?: string;
  resume?: { since: number; epoch: string };
}

/**
 * The request id, on the upgrade request itself for the 101's header: a WeakMap entry per upgrade
 * would be an ephemeron, which every young-generation collection of a handshake burst walks again.
 */
const REQUEST_ID = Symbol('requestId');
type Tagged = IncomingMessage & { [REQUEST_ID]?: string };

/** Who an upgrade is for, and until when its token holds. */
interface Admitted {
  identity: Identity;
  expiresAt: Instant;
}

/** Everything an upgrade was admitted with. */
interface Admission extends Admitted {
  start: SessionStart;
}

/** `since`, `epoch` and `chat_id` of the upgrade (docs/protocol.md, *Resume*); a bad one refuses it with 400. */
function startOf(query: URLSearchParams, identity: Identity): SessionStart {
  const start: SessionStart = {};
  const chatId = query.get('chat_id');
  if (chatId !== null) {
    if (identity.kind !== 'user')
      throw new GatewayError(
        ErrorCodes.BadRequest,
        'Invalid chat_id',
        'chat_id is for company sessions, not admin sessions.',
      );
    const problem = idProblem(chatId);
    if (problem) throw new GatewayError(ErrorCodes.BadRequest, 'Invalid chat_id', `chat_id ${problem}`);
    start.chatId = chatId;
  }
  const since = query.get('since');
  if (since !== null) {
    const seq = sinceOf(since);
    if (seq === undefined)
      throw new GatewayError(
        ErrorCodes.BadRequest,
        'Invalid since',
        'since must be a non-negative integer (the seq of the last event received).',
      );
    const epoch = query.get('epoch');
    if (!epoch)
      throw new GatewayError(
        ErrorCodes.BadRequest,
        'Invalid since',
        'since needs the epoch of the ready frame it belongs to.',
      );
    start.resume = { since: seq, epoch };
  }
  return start;
}

/**
 * GET /ws/{company}/{agent} and GET /ws/admin (docs/protocol.md, *HTTP*): every check happens before the
 * upgrade, as a list of early refusals with the HTTP status and error JSON of docs/protocol.md, *HTTP*.
 */
export class WsEndpoint {
  readonly connections = new Set<ClientConnection>();
  private readonly detaching = new Set<Promise<void>>();
  /** Connections whose socket is not closed yet (a closing one waits for the close handshake). */
  private readonly sockets = new Set<ClientConnection>();
  private readonly wss: WebSocketServer;
  private readonly heartbeat: HeartbeatSweeper;
  /**
   * Upgrades are taken only while open: from the pod's first reading of the stream (startAccepting) to shutdown
   * (closeAll).
   */
  private phase: 'starting' | 'open' | 'closing' = 'starting';
  private readonly turns = new Turns();
  /** Upgrades admitted whose session is not open yet: they count towards server.max_connections. */
  private pending = 0;
  private readonly connectionDeps: ConnectionDeps;

  private readonly clock: Clock;

  constructor(private readonly deps: WsEndpointDeps) {
    this.clock = deps.clock ?? systemClock;
    const app = deps.config().app;
    this.connectionDeps = {
      config: deps.config,
      metrics: deps.metrics,
      sessions: deps.sessions,
      log: deps.log,
      touch: deps.touch,
      resume: deps.resume,
      clock: this.clock,
      reauthenticate: (identity, token) => this.reauthenticate(identity, token),
      onClosed: (c) => this.closed(c),
      onSocketClosed: (c) => this.sockets.delete(c),
    };
    const mode = app.websocket_compression_mode;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: app.max_message_size_bytes,
      clientTracking: false,
      handleProtocols: (offered) =>
        offered.has(SUBPROTOCOL_V2) ? SUBPROTOCOL_V2 : offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false,
      perMessageDeflate:
        mode === 'disabled'
          ? false
          : {
              threshold: app.websocket_compression_threshold,
              serverNoContextTakeover: mode === 'no_context_takeover',
              clientNoContextTakeover: mode === 'no_context_takeover',
            },
    });
    this.wss.on('headers', (headers, req) => headers.push(`X-Request-ID: ${(req as Tagged)[REQUEST_ID]}`));
    this.heartbeat = new HeartbeatSweeper(() => this.connections, deps.config, deps.metrics, deps.log, this.clock);
    this.heartbeat.start();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const requestId = flatString(requestIdOf(req));
    (req as Tagged)[REQUEST_ID] = requestId;
    socket.on('error', destroySocket); // until ws has the socket (see the upgrade below)
    // The checks take their turn as well: a storm's upgrade requests arrive hundreds in one read,
    // and their key checks and token opening, run there, would hold up live events for tens of ms.
    return new Promise((resolve) =>
      this.turns.run(() => void this.admitUpgrade(req, socket, head, requestId).finally(resolve)),
    );
  }

  private async admitUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, requestId: string): Promise<void> {
    if (socket.destroyed) return;
    const address = clientAddressOf(req, this.deps.config().server.trust_proxy);
    forgetPeerAddress(req.socket);
    let identity: Identity;
    let start: SessionStart;
    let expiresAt: Instant;
    let release: () => void = () => undefined;
    try {
      const url = new URL(req.url ?? '/', 'http://gateway');
      this.checkCapacity(address);
      release = this.countPending(socket);
      ({ identity, start, expiresAt } = await this.withinDeadline(this.authenticateAndClaim(req, url, address)));
    } catch (err) {
      release();
      const error = toGatewayError(err);
      const fields = { request_id: requestId, path: pathOf(req), status: error.httpStatus };
      if (error.code === ErrorCodes.Internal && !(err instanceof AuthFailure)) {
        this.deps.log.error({ ...fields, code: error.code, err: error.cause }, 'upgrade failed');
      } else {
        this.deps.refusals.refused('websocket', error.code, address, fields);
      }
      if (offersV2(req) && this.phase === 'open') return this.refuseInBand(req, socket, head, error);
      return rejectUpgrade(socket, error.httpStatus, error.toBody(), requestId);
    }
    // The upgrade (accept key, 101) and the session's start take their turn (see Turns).
    const id = identity;
    this.turns.run(() => {
      if (socket.destroyed || this.phase !== 'open') {
        release();
        void this.deps.sessions.unclaim(id);
        if (!socket.destroyed)
          rejectUpgrade(
            socket,
            503,
            { code: ErrorCodes.ServiceUnavailable, message: 'Service shutting down' },
            requestId,
          );
        return;
      }
      // The 101 waits in the socket for `ready` (see open): one write and one TCP segment per
      // handshake instead of two, for the gateway and for the client alike.
      const raw = socket as Socket;
      raw.cork();
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        socket.off('error', destroySocket); // ws has its own listener now
        release();
        this.open(ws, { identity: id, start, expiresAt }, requestId, raw);
      });
    });
  }

  /** A refusal for a json.v2 client: the upgrade, then the error frame and the close code it can act on. */
  private refuseInBand(req: IncomingMessage, socket: Duplex, head: Buffer, error: GatewayError): void {
    if (socket.destroyed) return;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', destroySocket);
      ws.on('error', () => ws.terminate());
      ws.send(errorFrame(error.toBody()), { binary: false });
      ws.close(error.wsCloseCode, error.message.slice(0, 120));
      setTimeout(() => ws.terminate(), REFUSAL_GRACE_MS).unref();
    });
  }

  /** The key, token and session lock: everything of an upgrade that may wait on Redis. */
  private async authenticateAndClaim(req: IncomingMessage, url: URL, address: string): Promise<Admission> {
    const { identity, expiresAt } = await this.deps.limits.authenticate(address, () => this.admit(req, url));
    const block = this.deps.blockOf(identity);
    if (block) throw new Blocked(block.untilMs, block.reason, this.clock());
    const start = startOf(url.searchParams, identity);
    // With interest reading, the pod subscribes to what the session wants before its `ready`.
    await Promise.all([this.deps.sessions.claim(identity), this.deps.resume.prepare(identity, start.chatId)]);
    return { identity, start, expiresAt };
  }

  /**
   * app.handshake_timeout_seconds: an upgrade does not hang on a Redis that does not answer (paused,
   * partitioned): 503, and a lock taken after that is given back.
   */
  private withinDeadline(admitted: Promise<Admission>): Promise<Admission> {
    const seconds = this.deps.config().app.handshake_timeout_seconds;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        admitted.then(
          ({ identity }) => this.deps.sessions.unclaim(identity),
          () => undefined,
        );
        reject(
          new GatewayError(
            ErrorCodes.ServiceUnavailable,
            'Session store unavailable',
            `The session store did not answer within ${seconds} s; try again.`,
          ),
        );
      }, seconds * 1000);
    });
    return Promise.race([admitted, late]).finally(() => clearTimeout(timer));
  }

  /**
   * Counts an admitted upgrade towards server.max_connections until its session opens or its
   * socket is gone, whichever is first. Made here rather than in handleUpgrade: a listener on the
   * socket would otherwise keep that call's request and headers alive as long as the session.
   */
  private countPending(socket: Duplex): () => void {
    this.pending += 1;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.pending -= 1;
      socket.off('close', release);
    };
    socket.once('close', release);
    return release;
  }

  /** server.max_connections (503) and server.handshake_rate_per_ip (429), before any work is done. */
  private checkCapacity(address: string): void {
    const max = this.deps.sessionLimit();
    if (max > 0 && this.connections.size + this.pending >= max) {
      throw new GatewayError(
        ErrorCodes.ServiceUnavailable,
        'Too many connections',
        `This pod holds its limit of ${max} sessions; try again later or another pod.`,
      );
    }
    this.deps.limits.takeHandshake(address);
  }

  /**
   * From now on upgrades are taken: the pod reads the stream. A session admitted before that would
   * miss the events published until the reading began, and its `ready` would carry no epoch to
   * resume with (a later `since` without one is refused).
   */
  startAccepting(): void {
    if (this.phase === 'starting') this.phase = 'open';
  }

  /** Closes every session with the error frame of `error` and `closeCode`. */
  closeAll(error: GatewayError, closeCode?: number): void {
    this.phase = 'closing';
    this.heartbeat.stop();
    for (const c of this.connections) c.terminate(error, closeCode);
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
    const deadline = this.clock() + graceMs;
    while (this.sockets.size > 0 && this.clock() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const connection of this.sockets) connection.socket.terminate();
  }

  private async admit(req: IncomingMessage, url: URL): Promise<Admitted> {
    const target = webSocketTargetOf(url.pathname);
    if (!target) throw new GatewayError(ErrorCodes.NotFound, 'Not found', `No WebSocket endpoint at ${url.pathname}`);
    if (this.phase === 'closing') throw new GatewayError(ErrorCodes.ServiceUnavailable, 'Service shutting down');
    if (this.phase === 'starting')
      throw new GatewayError(
        ErrorCodes.ServiceUnavailable,
        'Service starting',
        'This pod is not reading the event stream yet; try again in a moment.',
      );
    const cfg = this.deps.config();
    checkClientKey(clientApiKeyOf(req, url), clientKeys(cfg.auth));
    this.checkUpgradeHeaders(req, cfg);
    const token = url.searchParams.get('token') ?? undefined;
    return target.kind === 'admin' ? this.admitAdmin(token) : this.admitCompany(token, target);
  }

  private checkUpgradeHeaders(req: IncomingMessage, cfg: Config): void {
    if (
      headerValue(req, 'upgrade')?.toLowerCase() !== 'websocket' ||
      !headerValue(req, 'sec-websocket-key') ||
      headerValue(req, 'sec-websocket-version') !== '13'
    ) {
      throw new GatewayError(
        ErrorCodes.BadRequest,
        'WebSocket upgrade required',
        'Expected a WebSocket version 13 upgrade request.',
      );
    }
    const origin = headerValue(req, 'origin');
    if (
      origin &&
      !cfg.app.websocket_development_insecure_skip_verify &&
      !sameHost(origin, headerValue(req, 'host')) &&
      !originAllowed(origin, cfg.server.allowed_origins)
    ) {
      throw new GatewayError(
        ErrorCodes.Forbidden,
        'Origin not allowed',
        `Origin ${origin} is neither the host nor in server.allowed_origins.`,
      );
    }
  }

  private async admitCompany(
    token: string | undefined,
    target: { companyId: string; agentId: string },
  ): Promise<Admitted> {
    const claims = await this.authenticated('company', () => this.deps.auth.authenticateCompany(token));
    if (claims.companyId !== target.companyId || claims.agentId !== target.agentId) {
      this.deps.metrics.authFailure.inc({ token_type: 'company', reason: 'path_mismatch' });
      throw new GatewayError(
        ErrorCodes.InvalidToken,
        'Company token does not match the requested path.',
        "The path /ws/{company}/{agent} must equal the token's company_id and agent_id.",
      );
    }
    this.deps.metrics.authSuccess.inc({ token_type: 'company' });
    return { identity: companyIdentity(claims), expiresAt: claims.expiresAt };
  }

  private async admitAdmin(token: string | undefined): Promise<Admitted> {
    const claims = await this.authenticated('admin', () => this.deps.auth.authenticateAdmin(token));
    this.deps.metrics.authSuccess.inc({ token_type: 'admin' });
    return { identity: adminIdentity(claims), expiresAt: claims.expiresAt };
  }

  /**
   * An in-band refresh (docs/protocol.md, *Session lifetime*): the new token's expiry when it opens,
   * is unexpired and carries the session's own identity; InvalidToken otherwise.
   */
  private async reauthenticate(identity: Identity, token: unknown): Promise<Instant> {
    if (typeof token !== 'string' || token === '') {
      throw new GatewayError(ErrorCodes.InvalidToken, 'Invalid refresh payload', 'Expected {"token":"…"} in payload.');
    }
    const admitted = identity.kind === 'user' ? await this.admitCompany(token, identity) : await this.admitAdmin(token);
    if (!sameIdentity(identity, admitted.identity)) {
      throw new GatewayError(
        ErrorCodes.InvalidToken,
        'Token is for another identity',
        "A refresh must carry the session's own identity and scope.",
      );
    }
    return admitted.expiresAt;
  }

  private async authenticated<C>(type: 'company' | 'admin', run: () => Promise<C>): Promise<C> {
    try {
      return await run();
    } catch (err) {
      const reason = err instanceof AuthFailure ? err.reason : 'internal_server_error';
      this.deps.metrics.authFailure.inc({ token_type: type, reason });
      throw err;
    }
  }

  /**
   * The session is registered at once, `ready` right behind the 101 (one write): from then on live
   * events go to it — or, when it resumes, wait for its replay (DeliveryPosition). The rest (the
   * activity stamp, the log line, the replay) takes its turn, so that a burst of sessions does not
   * hold up live events (see Turns).
   */
  private open(ws: WebSocket, { identity, start, expiresAt }: Admission, requestId: string, raw: Socket): void {
    const { metrics, log, resume, sessions } = this.deps;
    const connection = new ClientConnection(ws, identity, expiresAt, this.connectionDeps, requestId);
    this.sockets.add(connection);
    this.connections.add(connection);
    metrics.connectionsTotal.inc();
    metrics.activeConnections.inc();
    connection.chatId = start.chatId;
    const replay = start.resume ? resume.beginResume(connection, start.resume.since) : undefined;
    if (!replay) resume.startLive(connection);
    sessions
      .attach(connection)
      .catch((err: unknown) => log.warn({ err, session_key: connection.key }, 'route not registered'));
    connection.sendReady(resume.epoch());
    raw.uncork(); // the cork of the 101: it leaves now, with `ready`
    this.turns.run(() => {
      if (!connection.isOpen) return;
      this.deps.touch(connection);
      if (log.isLevelEnabled('info'))
        log.info(
          { ...logFields(identity), request_id: requestId, connection_id: connection.id, since: start.resume?.since },
          'session connected',
        );
      if (replay) void resume.run(connection, replay, start.resume!.epoch);
    });
  }

  private closed(connection: ClientConnection): void {
    const { metrics, log } = this.deps;
    this.connections.delete(connection);
    metrics.activeConnections.dec();
    const seconds = (this.clock() - connection.connectedAt) / 1000;
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
}

/** One listener for every socket, rather than a closure per socket that lives as long as it. */
function destroySocket(this: Duplex): void {
  this.destroy();
}

function logFields(identity: Identity): Record<string, string> {
  return identity.kind === 'user'
    ? { company_id: identity.companyId, agent_id: identity.agentId, user_id: identity.userId }
    : { admin_id: identity.adminId, user_id: identity.adminId };
}

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return new URL(origin).host.toLowerCase() === (host ?? '').toLowerCase();
  } catch {
    return false;
  }
}

/** Whether the client offered json.v2 (Sec-WebSocket-Protocol: a comma-separated list). */
function offersV2(req: IncomingMessage): boolean {
  const offered = headerValue(req, 'sec-websocket-protocol');
  return offered?.split(',').some((p) => p.trim() === SUBPROTOCOL_V2) === true;
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!;
}
