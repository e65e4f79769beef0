import type { Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import type { Config } from '../../platform/config/schema.js';
import type { Logger } from '../../domain/ports.js';
import type { Metrics } from '../../platform/metrics.js';
import { ErrorCodes, GatewayError, toGatewayError } from '../../domain/errors.js';
import { idProblem } from '../../domain/ids.js';
import { flatString } from './flat-string.js';
import { sessionKeyOf, type Identity } from '../../domain/session.js';
import { DeliveryPosition } from '../../services/delivery-position.js';
import type { ResumeService } from '../../services/resume.js';
import type { ProtocolFrame, Session } from '../../services/session.js';
import type { SessionManager } from '../../services/session-manager.js';
import {
  chatIdOf,
  chatSelectedFrame,
  errorFrame,
  parseClientMessage,
  readyFrame,
  refreshedFrame,
} from '../../domain/frames.js';
import { isJsonObject } from '../../domain/json.js';
import type { Instant } from '../../domain/rfc3339.js';
import { FrameRateLimit } from './frame-rate-limit.js';
import type { Clock } from '../../domain/clock.js';
import { Liveness } from './liveness.js';
import { SendQueue } from './send-queue.js';
import { SUBPROTOCOL_V2 } from './subprotocols.js';
import { SocketSink, rawSocketOf } from './socket-sink.js';

/** Connection ids, unique in the process (Session.id): a counter, read and bumped in one statement. */
let nextId = 1;
const CLOSE_GRACE_MS = 2000;

/** One object for every connection of an endpoint. */
export interface ConnectionDeps {
  /** The live configuration: limits and queue settings apply to open connections on reload. */
  config: () => Config;
  metrics: Metrics;
  sessions: SessionManager;
  log: Logger;
  /** Runs once when the connection is over, whatever closed it. */
  onClosed(connection: ClientConnection): void;
  /** Runs when the socket itself has closed (after the close handshake, or dropped). */
  onSocketClosed(connection: ClientConnection): void;
  /** Marks the session active in the renewal loop's view and writes `:last_active` now. */
  touch(session: Session): void;
  resume: ResumeService;
  clock: Clock;
  /** A refreshed token's expiry, when it opens and is the session's own identity (else throws InvalidToken). */
  reauthenticate(identity: Identity, token: unknown): Promise<Instant>;
}

const KNOWN_TYPES = new Set(['select_chat', 'ready', 'refresh']);

/** The connection a socket (the WebSocket, or the TCP socket under it) belongs to. */
const CONNECTION = Symbol('connection');
type Owned<T> = T & { [CONNECTION]?: ClientConnection };

/**
 * One WebSocket session: the protocol of docs/protocol.md, *WebSocket* (frames in, frames out) and its close paths.
 * What it delegates: the bounded send queue (send-queue.ts, writing through socket-sink.ts), the
 * inbound rate limit (frame-rate-limit.ts) and the liveness the HeartbeatSweeper reads and writes
 * (liveness.ts).
 *
 * An idle session's memory is mostly small per-connection things, so the sockets' listeners are
 * the class's static ones, shared by every connection, each finding its connection on the socket.
 */
export class ClientConnection implements Session {
  readonly id = nextId++;
  readonly key: string;
  chatId: string | undefined;
  readonly position = new DeliveryPosition();
  lastActivityMs: number;
  readonly connectedAt: number;
  readonly liveness: Liveness;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private released = false;
  closeCode = 0;
  closeReason = '';
  private readonly queue: SendQueue;
  private readonly rate: FrameRateLimit;
  readonly sessionLabel: string;

  constructor(
    readonly socket: WebSocket,
    readonly identity: Identity,
    /** When the session's token expires: it is closed then (4403) unless refreshed. */
    public expiresAt: Instant,
    private readonly deps: ConnectionDeps,
    /** The upgrade request's id, for the log line of the session's close. */
    readonly requestId: string,
  ) {
    this.key = flatString(sessionKeyOf(identity));
    this.connectedAt = this.lastActivityMs = deps.clock();
    this.liveness = new Liveness(deps.config().app.ping_interval_seconds * 1000, this.connectedAt);
    this.rate = new FrameRateLimit();
    this.sessionLabel = deps.metrics.sessionLabel(this.key);
    // The TCP socket under the WebSocket: its 'drain' moves waiting frames on (see SocketSink).
    const raw: Owned<Socket> | undefined = rawSocketOf(socket);
    if (raw) raw[CONNECTION] = this;
    this.queue = new SendQueue(
      new SocketSink(socket, raw, deps, this.sessionLabel, ClientConnection.onDrain, () => this.overflowed()),
      deps.clock,
    );
    (socket as Owned<WebSocket>)[CONNECTION] = this;
    socket.on('message', ClientConnection.onSocketMessage);
    socket.on('pong', ClientConnection.onSocketPong);
    socket.on('close', ClientConnection.onSocketClose);
    socket.on('error', ClientConnection.onSocketError);
  }

  private static onDrain(this: Owned<Socket>): void {
    this[CONNECTION]?.queue.drained();
  }

  private static onSocketMessage(this: Owned<WebSocket>, data: RawData, isBinary: boolean): void {
    this[CONNECTION]?.onMessage(data as Buffer, isBinary);
  }

  private static onSocketPong(this: Owned<WebSocket>): void {
    const connection = this[CONNECTION];
    connection?.liveness.heard(connection.deps.clock());
  }

  private static onSocketClose(this: Owned<WebSocket>, code: number, reason: Buffer): void {
    const connection = this[CONNECTION];
    if (!connection) return;
    connection.release(code, reason.toString());
    connection.state = 'closed';
    connection.deps.onSocketClosed(connection);
  }

  private static onSocketError(this: Owned<WebSocket>, err: Error): void {
    const connection = this[CONNECTION];
    connection?.deps.log.debug({ err, session_key: connection.key }, 'socket error');
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Frames waiting for room in the socket: at most app.websocket_message_buffer_size. */
  get queued(): number {
    return this.queue.length;
  }

  /** Bytes of those frames: at most app.websocket_max_queued_bytes. */
  get queuedBytes(): number {
    return this.queue.bytes;
  }

  /**
   * Periodic look at the socket (HeartbeatSweeper): notes a socket backlog, and moves waiting
   * frames on in case no 'drain' came (a compressing sender buffers outside the socket).
   */
  observe(now: number): void {
    this.queue.observeSocket(now);
    this.queue.drained();
  }

  /** Since when unwritten data has been waiting (here or in the socket), if any. */
  oldestQueuedAt(): number | undefined {
    return this.queue.oldestAt();
  }

  /** Whether the token has expired by `now` (the heartbeat sweeper looks). */
  expired(now: number): boolean {
    return now > this.expiresAt.ms;
  }

  sendReady(epoch: string): void {
    this.sendUnbounded(readyFrame(epoch, this.expiresAt.text), 'ready');
  }

  deliver(frame: Buffer): void {
    if (this.state === 'open') this.queue.push(frame);
  }

  whenWritable(): Promise<void> | undefined {
    return this.queue.writable();
  }

  sendUnbounded(frame: Buffer, type: ProtocolFrame): void {
    if (this.state !== 'open') return;
    this.deps.metrics.messagesSent.inc({ message_type: type });
    this.queue.pushUrgent(frame);
  }

  /**
   * Sends the error frame and the close frame (`closeCode`, by default the error's own), ahead of
   * any frames still waiting; a peer that does not complete the close handshake within
   * CLOSE_GRACE_MS is dropped (a half-open or stalled client cannot hold the socket).
   */
  terminate(error: GatewayError, closeCode = error.wsCloseCode): void {
    if (this.state !== 'open') return;
    this.socket.send(errorFrame(error.toBody()), { binary: false });
    this.deps.metrics.messagesSent.inc({ message_type: 'error' });
    this.close(closeCode, error.message);
    const drop = setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS);
    drop.unref();
    this.socket.once('close', () => clearTimeout(drop));
  }

  /** Closes with a close code (no error frame); the session is released at once. */
  close(code: number, reason: string): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.socket.close(code, reason.slice(0, 120));
    this.release(code, reason);
  }

  /** Drops the TCP connection without a close handshake (the peer does not read any more). */
  kill(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closing';
    this.socket.terminate();
    this.release(code, reason);
  }

  ping(now: number): void {
    this.liveness.pinged(now);
    this.socket.ping();
  }

  private sendError(
    code: typeof ErrorCodes.BadRequest | typeof ErrorCodes.SubscriptionFailure | typeof ErrorCodes.RateLimitExceeded,
    message: string,
    details?: string,
  ): void {
    this.sendUnbounded(errorFrame(new GatewayError(code, message, details).toBody()), 'error');
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    const now = this.deps.clock();
    this.liveness.heard(now);
    if (this.state !== 'open' || isBinary || !this.withinRate(now)) return;
    this.lastActivityMs = now;
    const text = data.toString('utf8');
    const message = parseClientMessage(text);
    const label = message.type === 'invalid' ? 'invalid_json' : message.type === 'unknown' ? 'unknown' : message.type;
    this.deps.metrics.messagesReceived.inc({
      message_type: KNOWN_TYPES.has(label) || label === 'invalid_json' ? label : 'unknown',
    });
    switch (message.type) {
      case 'invalid':
        this.sendError(ErrorCodes.BadRequest, 'Invalid message format', 'Frames must be JSON objects with a "type".');
        break;
      case 'ready':
        this.sendUnbounded(Buffer.from(text), 'ready');
        break;
      case 'select_chat':
        this.selectChat(message.payload);
        break;
      case 'refresh':
        void this.refresh(message.payload);
        break;
      case 'unknown':
        this.sendError(ErrorCodes.BadRequest, 'Unhandled message type', `Type: ${message.name}`);
    }
  }

  private selectChat(payload: unknown): void {
    const parsed =
      this.identity.kind === 'user'
        ? chatIdOf(payload)
        : { problem: 'select_chat is for company sessions, not ' + 'admin sessions.' };
    const problem =
      'problem' in parsed ? parsed.problem : idProblem(parsed.chatId) && `chat_id ${idProblem(parsed.chatId)}`;
    if (problem || 'problem' in parsed) {
      this.sendError(ErrorCodes.BadRequest, 'Invalid select_chat payload', problem);
      return;
    }
    const { resume, sessions } = this.deps;
    // Synchronous up to the chat being set: no live event of the new chat can come in between.
    const { replay, refused, start } = resume.beginSelect(this, parsed.chatId, parsed.since);
    if (refused) this.sendError(ErrorCodes.RateLimitExceeded, refused.message, refused.details);
    if (start !== undefined && this.socket.protocol === SUBPROTOCOL_V2)
      this.sendUnbounded(chatSelectedFrame(parsed.chatId, start), 'chat_selected');
    const routed = sessions.selectChat(this, parsed.chatId);
    this.deps.touch(this);
    if (replay) void resume.run(this, replay, resume.epoch());
    routed.catch((err: unknown) => {
      this.deps.log.warn({ err, session_key: this.key }, 'select_chat failed');
      this.sendError(ErrorCodes.SubscriptionFailure, 'Could not subscribe to chat events.');
    });
  }

  /** An in-band refresh: the session's expiry moves to the new token's, or an InvalidToken error frame and it stays. */
  private async refresh(payload: unknown): Promise<void> {
    const token = isJsonObject(payload) ? payload.token : undefined;
    try {
      const expiresAt = await this.deps.reauthenticate(this.identity, token);
      if (this.state !== 'open') return;
      this.expiresAt = expiresAt;
      this.sendUnbounded(refreshedFrame(expiresAt.text), 'refreshed');
    } catch (err) {
      this.sendUnbounded(errorFrame(toGatewayError(err).toBody()), 'error');
    }
  }

  /** Under `block`, the queue is full: the session catches up from the history as it drains. */
  private overflowed(): void {
    if (this.state === 'open') this.deps.resume.catchUp(this);
  }

  /** app.max_client_frames_per_second: a warning frame past the limit, close 4429 past twice it. */
  private withinRate(now: number): boolean {
    const limit = this.deps.config().app.max_client_frames_per_second;
    const verdict = this.rate.check(now, limit);
    if (verdict === 'pass') return true;
    if (verdict === 'close') {
      this.terminate(
        new GatewayError(ErrorCodes.RateLimitExceeded, 'Rate limit exceeded', `More than ${limit} frames per second.`),
      );
    } else if (verdict === 'warn') {
      this.sendError(
        ErrorCodes.RateLimitExceeded,
        'Rate limit exceeded',
        `At most ${limit} frames per second; frames over the limit are ignored.`,
      );
    }
    return false;
  }

  private release(code: number, reason: string): void {
    if (this.released) return;
    this.released = true;
    this.closeCode = code;
    this.closeReason = reason;
    this.position.stopReplay();
    this.queue.close();
    this.deps.onClosed(this);
  }
}
