import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Config } from '../../platform/config/schema.js';
import type { Logger } from '../../domain/ports.js';
import type { Metrics } from '../../platform/metrics.js';
import type { RefusalLog } from '../../platform/refusal-log.js';
import { AuthFailure, ErrorCodes, GatewayError, toGatewayError } from '../../domain/errors.js';
import { errorFrame } from '../../domain/frames.js';
import type { Admission, Admitted, UpgradeRequest } from '../../services/admission.js';
import type { Session } from '../../services/session.js';
import type { ResumeService } from '../../services/resume.js';
import type { SessionManager } from '../../services/session-manager.js';
import { clientAddressOf, forgetPeerAddress } from '../shared/client-address.js';
import { clientApiKeyOf, headerValue, requestIdOf, webSocketTargetOf } from '../shared/request.js';
import { flatString } from './flat-string.js';
import { rejectUpgrade } from './refuse-upgrade.js';
import { ClientConnection, type ConnectionDeps } from './client-connection.js';
import { ConnectionSet, logFields } from './connection-set.js';
import { SUBPROTOCOL, SUBPROTOCOL_V2 } from './subprotocols.js';
import { Turns } from './turns.js';
import { systemClock, type Clock } from '../../domain/clock.js';

/** How long a refused json.v2 client has to complete the close handshake. */
const REFUSAL_GRACE_MS = 2000;

export interface WsEndpointDeps {
  config: () => Config;
  /** Decides every upgrade and in-band refresh; the endpoint carries its answers. */
  admission: Admission;
  sessions: SessionManager;
  metrics: Metrics;
  log: Logger;
  touch(session: Session): void;
  resume: ResumeService;
  refusals: RefusalLog;
  clock?: Clock;
}

/**
 * The request id, on the upgrade request itself for the 101's header: a WeakMap entry per upgrade
 * would be an ephemeron, which every young-generation collection of a handshake burst walks again.
 */
const REQUEST_ID = Symbol('requestId');
type Tagged = IncomingMessage & { [REQUEST_ID]?: string };

/**
 * GET /ws/{company}/{agent} and GET /ws/admin (docs/protocol.md, *HTTP*): the upgrade is admitted (services/
 * admission.ts) before the 101; a refusal is the HTTP status and error JSON of docs/protocol.md, *HTTP* — or,
 * for a json.v2 client, an error frame and the close code it can act on.
 */
export class WsEndpoint {
  readonly connections: ConnectionSet;
  private readonly wss: WebSocketServer;
  private readonly turns = new Turns();
  private readonly connectionDeps: ConnectionDeps;
  private readonly clock: Clock;

  constructor(private readonly deps: WsEndpointDeps) {
    this.clock = deps.clock ?? systemClock;
    this.connections = new ConnectionSet({ ...deps, clock: this.clock });
    this.connectionDeps = {
      config: deps.config,
      metrics: deps.metrics,
      sessions: deps.sessions,
      log: deps.log,
      touch: deps.touch,
      resume: deps.resume,
      clock: this.clock,
      reauthenticate: (identity, token) => deps.admission.reauthenticate(identity, token),
      onClosed: (c) => this.connections.closed(c),
      onSocketClosed: (c) => this.connections.socketClosed(c),
    };
    const app = deps.config().app;
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
    const { admission } = this.deps;
    const address = clientAddressOf(req, this.deps.config().server.trust_proxy);
    forgetPeerAddress(req.socket);
    let admitted: Admitted;
    let release: () => void = () => undefined;
    try {
      const url = new URL(req.url ?? '/', 'http://gateway');
      release = untilClosed(socket, admission.reserve(address));
      admitted = await admission.admit(upgradeRequestOf(req, url, address));
    } catch (err) {
      release();
      const error = toGatewayError(err);
      const fields = { request_id: requestId, path: pathOf(req), status: error.httpStatus };
      if (error.code === ErrorCodes.Internal && !(err instanceof AuthFailure)) {
        this.deps.log.error({ ...fields, code: error.code, err: error.cause }, 'upgrade failed');
      } else {
        this.deps.refusals.refused('websocket', error.code, address, fields);
      }
      if (offersV2(req) && admission.accepting) return this.refuseInBand(req, socket, head, error);
      return rejectUpgrade(socket, error.httpStatus, error.toBody(), requestId);
    }
    // The upgrade (accept key, 101) and the session's start take their turn (see Turns).
    this.turns.run(() => {
      if (socket.destroyed || !admission.accepting) {
        release();
        void admission.withdraw(admitted);
        const shuttingDown = new GatewayError(ErrorCodes.ServiceUnavailable, 'Service shutting down');
        if (!socket.destroyed) rejectUpgrade(socket, shuttingDown.httpStatus, shuttingDown.toBody(), requestId);
        return;
      }
      // The 101 waits in the socket for `ready` (see open): one write and one TCP segment per
      // handshake instead of two, for the gateway and for the client alike.
      const raw = socket as Socket;
      raw.cork();
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        socket.off('error', destroySocket); // ws has its own listener now
        release();
        this.open(ws, admitted, requestId, raw);
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

  /** From now on upgrades are taken: the pod reads the stream (see Admission.open). */
  startAccepting(): void {
    this.deps.admission.open();
  }

  /** Shutdown: no upgrade is taken, every session is closed with the error frame of `error` and `closeCode`. */
  closeAll(error: GatewayError, closeCode?: number): void {
    this.deps.admission.close();
    this.connections.closeAll(error, closeCode);
  }

  /**
   * The session is registered at once, `ready` right behind the 101 (one write): from then on live
   * events go to it — or, when it resumes, wait for its replay (DeliveryPosition). The rest (the
   * activity stamp, the log line, the replay) takes its turn, so that a burst of sessions does not
   * hold up live events (see Turns).
   */
  private open(ws: WebSocket, { identity, start, expiresAt }: Admitted, requestId: string, raw: Socket): void {
    const { log, resume, sessions } = this.deps;
    const connection = new ClientConnection(ws, identity, expiresAt, this.connectionDeps, requestId);
    this.connections.added(connection);
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
}

/** What the admission needs of an upgrade request. */
function upgradeRequestOf(req: IncomingMessage, url: URL, address: string): UpgradeRequest {
  return {
    path: url.pathname,
    target: webSocketTargetOf(url.pathname),
    query: url.searchParams,
    address,
    clientKey: clientApiKeyOf(req, url),
    headers: {
      upgrade: headerValue(req, 'upgrade'),
      key: headerValue(req, 'sec-websocket-key'),
      version: headerValue(req, 'sec-websocket-version'),
      origin: headerValue(req, 'origin'),
      host: headerValue(req, 'host'),
    },
  };
}

/**
 * The reservation is given back when the session opens or its socket is gone, whichever is first. Made here
 * rather than in handleUpgrade: a listener there would keep that call's request and headers alive as long as the
 * session.
 */
function untilClosed(socket: Duplex, reserved: () => void): () => void {
  const release = () => {
    reserved();
    socket.off('close', release);
  };
  socket.once('close', release);
  return release;
}

/** One listener for every socket, rather than a closure per socket that lives as long as it. */
function destroySocket(this: Duplex): void {
  this.destroy();
}

/** Whether the client offered json.v2 (Sec-WebSocket-Protocol: a comma-separated list). */
function offersV2(req: IncomingMessage): boolean {
  const offered = headerValue(req, 'sec-websocket-protocol');
  return offered?.split(',').some((p) => p.trim() === SUBPROTOCOL_V2) === true;
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!;
}
