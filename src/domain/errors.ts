/**
 * Every error class of the service lives here (as fastify's lib/errors.js and nats.js's
 * errors.ts): GatewayError and AuthFailure, which cross boundaries, and the internal ones
 * (TokenError, ConfigError, the connection errors at start). Every error that crosses a boundary
 * (HTTP body, WebSocket error frame and close code, gRPC status) carries one of these codes. The table below is the
 * single place that maps a code to its HTTP status, WebSocket close code and gRPC status (docs/protocol.md, *HTTP*).
 */
import { CloseCodes } from './close-codes.js';

export const ErrorCodes = {
  InvalidAPIKey: 'InvalidAPIKey',
  InvalidToken: 'InvalidToken',
  Unauthorized: 'E4001',
  Forbidden: 'E4003',
  SessionConflict: 'SessionConflict',
  RateLimitExceeded: 'RateLimitExceeded',
  BadRequest: 'BadRequest',
  MethodNotAllowed: 'E4005',
  NotFound: 'NotFound',
  Internal: 'InternalServerError',
  SubscriptionFailure: 'SubscriptionFailure',
  ServiceUnavailable: 'ServiceUnavailable',
  ResumeUnavailable: 'ResumeUnavailable',
  Disconnected: 'Disconnected',
  PayloadTooLarge: 'PayloadTooLarge',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** gRPC status numbers (google.rpc.Code) used by this service. */
export const GrpcStatus = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

interface CodeMapping {
  http: number;
  ws: number;
  grpc: number;
}

const mappings: Record<ErrorCode, CodeMapping> = {
  InvalidAPIKey: { http: 401, ws: CloseCodes.InvalidAPIKey, grpc: GrpcStatus.UNAUTHENTICATED },
  InvalidToken: { http: 403, ws: CloseCodes.InvalidToken, grpc: GrpcStatus.PERMISSION_DENIED },
  E4001: { http: 401, ws: CloseCodes.InvalidToken, grpc: GrpcStatus.UNAUTHENTICATED },
  E4003: { http: 403, ws: CloseCodes.InvalidToken, grpc: GrpcStatus.PERMISSION_DENIED },
  SessionConflict: { http: 409, ws: CloseCodes.SessionConflict, grpc: GrpcStatus.ALREADY_EXISTS },
  RateLimitExceeded: { http: 429, ws: CloseCodes.RateLimited, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  BadRequest: { http: 400, ws: CloseCodes.BadRequest, grpc: GrpcStatus.INVALID_ARGUMENT },
  E4005: { http: 405, ws: CloseCodes.BadRequest, grpc: GrpcStatus.INVALID_ARGUMENT },
  NotFound: { http: 404, ws: CloseCodes.BadRequest, grpc: GrpcStatus.NOT_FOUND },
  InternalServerError: { http: 500, ws: CloseCodes.InternalError, grpc: GrpcStatus.INTERNAL },
  SubscriptionFailure: { http: 500, ws: CloseCodes.InternalError, grpc: GrpcStatus.INTERNAL },
  ServiceUnavailable: { http: 503, ws: CloseCodes.TryLater, grpc: GrpcStatus.UNAVAILABLE },
  // Never closes anything: the session goes on with live events (docs/protocol.md, *Resume*).
  ResumeUnavailable: { http: 410, ws: CloseCodes.Normal, grpc: GrpcStatus.NOT_FOUND },
  // An operator ended the session (docs/protocol.md, *Session lifetime*): a client must not come back at once.
  Disconnected: { http: 410, ws: CloseCodes.Disconnected, grpc: GrpcStatus.UNAVAILABLE },
  PayloadTooLarge: { http: 413, ws: CloseCodes.TooLarge, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
};

export function httpStatusOf(code: ErrorCode): number {
  return mappings[code].http;
}

export function wsCloseCodeOf(code: ErrorCode): number {
  return mappings[code].ws;
}

export function grpcStatusOf(code: ErrorCode): number {
  return mappings[code].grpc;
}

/** The JSON body of an error, as HTTP responses and WebSocket error frames carry it. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: string;
}

export class GatewayError extends Error {
  override name = 'GatewayError';
  readonly code: ErrorCode;
  readonly details: string | undefined;

  constructor(code: ErrorCode, message: string, details?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return httpStatusOf(this.code);
  }

  get wsCloseCode(): number {
    return wsCloseCodeOf(this.code);
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.details) body.details = this.details;
    return body;
  }
}

/** What an adapter stands for: the session store, the event stream, the database of the CDC bridge. */
export type Dependency = 'redis' | 'nats' | 'postgres';

const DEPENDENCY_NAMES: Record<Dependency, string> = {
  redis: 'Session store',
  nats: 'Event stream',
  postgres: 'Database',
};

/**
 * A dependency that failed, refused or did not answer, as its adapter reports it (nats.js's errors.ts: one class
 * per failure, the library's own error as `cause`): ServiceUnavailable — one failure, one status (503, close
 * 1013: try again later), whether it failed at once or timed out. `operation` says what was asked of it; the cause's
 * text (addresses, library internals) stays in the log, not in the client's error.
 */
export class DependencyError extends GatewayError {
  override name = 'DependencyError';
  constructor(
    readonly dependency: Dependency,
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(ErrorCodes.ServiceUnavailable, `${DEPENDENCY_NAMES[dependency]} unavailable`, `${operation} failed`, options);
  }
}

/**
 * A failed authentication (a missing or wrong API key or token): the client-facing error plus
 * the `reason` label of dws_auth_failure_total. Those with a 4xx status count towards
 * auth.max_failures_per_ip_per_minute.
 */
export class AuthFailure extends GatewayError {
  override name = 'AuthFailure';
  constructor(
    error: GatewayError,
    readonly reason: string,
  ) {
    super(error.code, error.message, error.details, { cause: error.cause });
  }

  /** The client's fault (not the server's configuration). */
  get countsAgainstClient(): boolean {
    return this.httpStatus < 500;
  }
}

/**
 * An identity an operator blocked (docs/protocol.md, *Operator API*): InvalidToken and 403, as the Go
 * service's clients have always seen it; refused in band (json.v2) it closes with 4410, as the
 * operator's disconnect does, so that the SDK stops.
 */
export class Blocked extends GatewayError {
  override name = 'Blocked';
  constructor(
    readonly untilMs: number,
    reason: string,
    now: number,
  ) {
    super(
      ErrorCodes.InvalidToken,
      'Session blocked by an operator',
      `Until ${new Date(untilMs).toISOString()} (${Math.ceil((untilMs - now) / 1000)} s from now)` +
        (reason ? `: ${reason}` : '.'),
    );
  }

  override get wsCloseCode(): number {
    return wsCloseCodeOf(ErrorCodes.Disconnected);
  }
}

/** Wraps anything thrown into a GatewayError whose message is safe to show a client. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError(ErrorCodes.Internal, 'An unexpected error occurred.', undefined, { cause: err });
}

/** Why a token was refused (the `reason` of dws_auth_failure_total, through AuthFailure). */
export type TokenFailure =
  | 'invalid_token_format'
  | 'ciphertext_too_short'
  | 'decryption_failed'
  | 'payload_invalid'
  | 'expired';

export class TokenError extends Error {
  override name = 'TokenError';
  constructor(
    readonly kind: TokenFailure,
    message: string,
  ) {
    super(message);
  }
}

/** All problems of a configuration, reported at once in one line (exit code 2 at start). */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
  }
}

/** Redis could not be reached at start; the message names the address and the cause. */
export class RedisConnectionError extends Error {
  override name = 'RedisConnectionError';
}

/** NATS could not be reached at start; the message names the URL and the cause. */
export class NatsConnectionError extends Error {
  override name = 'NatsConnectionError';
}

/** The replication slot is read by another bridge: this one stands by. */
export class SlotInUse extends Error {
  override name = 'SlotInUse';
}

/** The replication slot can no longer serve changes (max_slot_wal_keep_size): an operator must act. */
export class SlotLost extends Error {
  override name = 'SlotLost';
}
