import type { Config } from '../platform/config/schema.js';
import type { AuthHooks } from '../domain/metric-hooks.js';
import type { Block, EventStream } from '../domain/ports.js';
import { AuthFailure, Blocked, ErrorCodes, GatewayError } from '../domain/errors.js';
import { sinceOf } from '../domain/frames.js';
import { idProblem } from '../domain/ids.js';
import { originAllowed } from '../domain/origins.js';
import type { Instant } from '../domain/rfc3339.js';
import { adminIdentity, companyIdentity, interestOf, sameIdentity, type Identity } from '../domain/session.js';
import { systemClock, type Clock } from '../domain/clock.js';
import type { AbuseLimits } from './abuse-limits.js';
import type { AuthService } from './auth-service.js';
import { checkClientKey, clientKeys } from './api-keys.js';
import type { SessionManager } from './session-manager.js';

/** The endpoint an upgrade is for (docs/protocol.md, *HTTP*); undefined: no WebSocket endpoint at that path. */
export type UpgradeTarget = { kind: 'admin' } | { kind: 'company'; companyId: string; agentId: string };

/** What a WebSocket upgrade asks for, read off the request by the transport: nothing here knows HTTP. */
export interface UpgradeRequest {
  path: string;
  target: UpgradeTarget | undefined;
  query: URLSearchParams;
  /** The client's address (after server.trust_proxy): the limits count per address. */
  address: string;
  /** X-API-Key, else the x-api-key query parameter. */
  clientKey: string | undefined;
  headers: { upgrade?: string; key?: string; version?: string; origin?: string; host?: string };
}

/** What the upgrade asks for besides the session: a chat to select, a point to resume from. */
export interface SessionStart {
  chatId?: string;
  resume?: { since: number; epoch: string };
}

/** An admitted upgrade: who, until when its token holds, how its session starts. Its session lock is held. */
export interface Admitted {
  identity: Identity;
  expiresAt: Instant;
  start: SessionStart;
}

export interface AdmissionDeps {
  config: () => Pick<Config, 'app' | 'auth' | 'server'>;
  auth: AuthService;
  limits: AbuseLimits;
  sessions: Pick<SessionManager, 'claim' | 'unclaim'>;
  /** Where the pod subscribes to what a session wants before its `ready` (interest reading). */
  stream: Pick<EventStream, 'prepare'>;
  hooks: AuthHooks;
  /** Sessions this pod accepts (server.max_connections, or what the open-file limit leaves; 0: no limit). */
  sessionLimit(): number;
  /** Sessions open on this pod now. */
  openSessions(): number;
  /** An operator's block on this identity, if one is in force. */
  blockOf(identity: Identity): Block | undefined;
  clock?: Clock;
}

/**
 * Who may open a session (docs/protocol.md, *HTTP*; SECURITY.md, *Limits*): the pod's phase, its capacity and
 * the per-address limits, the client key, the upgrade headers and origin, the token against the path, an
 * operator's block, `chat_id` and `since`, and the session lock — every decision of a WebSocket upgrade, and the
 * identity rule of an in-band refresh. The transport carries the answers: a GatewayError is the refusal.
 */
export class Admission {
  /** Upgrades are taken only while open: from the pod's first reading of the stream to shutdown. */
  private phase: 'starting' | 'open' | 'closing' = 'starting';
  /** Upgrades reserved whose session is not open yet: they count towards the session limit. */
  private pending = 0;
  private readonly clock: Clock;

  constructor(private readonly deps: AdmissionDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  /**
   * From now on upgrades are taken: the pod reads the stream. A session admitted before that would miss the
   * events published until the reading began, and its `ready` would carry no epoch to resume with.
   */
  open(): void {
    if (this.phase === 'starting') this.phase = 'open';
  }

  /** Shutdown: no upgrade is taken any more. */
  close(): void {
    this.phase = 'closing';
  }

  get accepting(): boolean {
    return this.phase === 'open';
  }

  /**
   * server.max_connections (503) and server.handshake_rate_per_ip (429), before any work is done. The upgrade
   * counts towards the limit until the returned release is called (its session opened, or its socket went).
   */
  reserve(address: string): () => void {
    const max = this.deps.sessionLimit();
    if (max > 0 && this.deps.openSessions() + this.pending >= max) {
      throw new GatewayError(
        ErrorCodes.ServiceUnavailable,
        'Too many connections',
        `This pod holds its limit of ${max} sessions; try again later or another pod.`,
      );
    }
    this.deps.limits.takeHandshake(address);
    this.pending += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pending -= 1;
    };
  }

  /**
   * The key, token and session lock: everything of an upgrade that may wait on Redis, within
   * app.handshake_timeout_seconds — a Redis that does not answer (paused, partitioned) is 503 as one that fails,
   * and a lock taken after the deadline is given back.
   */
  admit(request: UpgradeRequest): Promise<Admitted> {
    const admitted = this.authenticateAndClaim(request);
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

  /** An admitted upgrade whose session will not open (its socket went, the pod is shutting down). */
  withdraw(admitted: Admitted): Promise<void> {
    return this.deps.sessions.unclaim(admitted.identity);
  }

  /**
   * An in-band refresh (docs/protocol.md, *Session lifetime*): the new token's expiry when it opens, is
   * unexpired and carries the session's own identity; InvalidToken otherwise.
   */
  async reauthenticate(identity: Identity, token: unknown): Promise<Instant> {
    if (typeof token !== 'string' || token === '') {
      throw new GatewayError(ErrorCodes.InvalidToken, 'Invalid refresh payload', 'Expected {"token":"…"} in payload.');
    }
    const renewed =
      identity.kind === 'user' ? await this.authenticateCompany(token, identity) : await this.authenticateAdmin(token);
    if (!sameIdentity(identity, renewed.identity)) {
      throw new GatewayError(
        ErrorCodes.InvalidToken,
        'Token is for another identity',
        "A refresh must carry the session's own identity and scope.",
      );
    }
    return renewed.expiresAt;
  }

  private async authenticateAndClaim(request: UpgradeRequest): Promise<Admitted> {
    const { identity, expiresAt } = await this.deps.limits.authenticate(request.address, () =>
      this.authenticate(request),
    );
    const block = this.deps.blockOf(identity);
    if (block) throw new Blocked(block.untilMs, block.reason, this.clock());
    const start = startOf(request.query, identity);
    // With interest reading, the pod subscribes to what the session wants before its `ready`.
    await Promise.all([
      this.deps.sessions.claim(identity),
      this.deps.stream.prepare(interestOf(identity, start.chatId)),
    ]);
    return { identity, expiresAt, start };
  }

  private async authenticate(request: UpgradeRequest): Promise<Omit<Admitted, 'start'>> {
    const { target } = request;
    if (!target) throw new GatewayError(ErrorCodes.NotFound, 'Not found', `No WebSocket endpoint at ${request.path}`);
    if (this.phase === 'closing') throw new GatewayError(ErrorCodes.ServiceUnavailable, 'Service shutting down');
    if (this.phase === 'starting')
      throw new GatewayError(
        ErrorCodes.ServiceUnavailable,
        'Service starting',
        'This pod is not reading the event stream yet; try again in a moment.',
      );
    const cfg = this.deps.config();
    checkClientKey(request.clientKey, clientKeys(cfg.auth));
    checkUpgradeHeaders(request.headers, cfg);
    const token = request.query.get('token') ?? undefined;
    return target.kind === 'admin' ? this.authenticateAdmin(token) : this.authenticateCompany(token, target);
  }

  private async authenticateCompany(
    token: string | undefined,
    target: { companyId: string; agentId: string },
  ): Promise<Omit<Admitted, 'start'>> {
    const claims = await this.counted('company', () => this.deps.auth.authenticateCompany(token));
    if (claims.companyId !== target.companyId || claims.agentId !== target.agentId) {
      this.deps.hooks.authFailed('company', 'path_mismatch');
      throw new GatewayError(
        ErrorCodes.InvalidToken,
        'Company token does not match the requested path.',
        "The path /ws/{company}/{agent} must equal the token's company_id and agent_id.",
      );
    }
    this.deps.hooks.authSucceeded('company');
    return { identity: companyIdentity(claims), expiresAt: claims.expiresAt };
  }

  private async authenticateAdmin(token: string | undefined): Promise<Omit<Admitted, 'start'>> {
    const claims = await this.counted('admin', () => this.deps.auth.authenticateAdmin(token));
    this.deps.hooks.authSucceeded('admin');
    return { identity: adminIdentity(claims), expiresAt: claims.expiresAt };
  }

  private async counted<C>(type: 'company' | 'admin', run: () => Promise<C>): Promise<C> {
    try {
      return await run();
    } catch (err) {
      this.deps.hooks.authFailed(type, err instanceof AuthFailure ? err.reason : 'internal_server_error');
      throw err;
    }
  }
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

/** A WebSocket version 13 upgrade (400), from the host itself or an allowed origin (403). */
function checkUpgradeHeaders(headers: UpgradeRequest['headers'], cfg: Pick<Config, 'app' | 'server'>): void {
  if (headers.upgrade?.toLowerCase() !== 'websocket' || !headers.key || headers.version !== '13') {
    throw new GatewayError(
      ErrorCodes.BadRequest,
      'WebSocket upgrade required',
      'Expected a WebSocket version 13 upgrade request.',
    );
  }
  const { origin } = headers;
  if (
    origin &&
    !cfg.app.websocket_development_insecure_skip_verify &&
    !sameHost(origin, headers.host) &&
    !originAllowed(origin, cfg.server.allowed_origins)
  ) {
    throw new GatewayError(
      ErrorCodes.Forbidden,
      'Origin not allowed',
      `Origin ${origin} is neither the host nor in server.allowed_origins.`,
    );
  }
}

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return new URL(origin).host.toLowerCase() === (host ?? '').toLowerCase();
  } catch {
    return false;
  }
}
