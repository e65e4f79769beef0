// Generated from src/domain/close-codes.ts by `npm run codes`: edit that file, not this one.
export const CloseCodes = {
  /** A normal close (the client's own). ResumeUnavailable maps here only because it never closes a session. */
  Normal: 1000,
  /** The pod shuts down: come back (to another pod) after a short pause. */
  GoingAway: 1001,
  /** The client did not keep up with its frames (the Go service's 1008). */
  SlowClient: 1008,
  /** An event or frame larger than the limit. */
  TooLarge: 1009,
  /** The server failed (pong timeout, write timeout, slow client in Go's words). */
  InternalError: 1011,
  /** The server cannot take the session now (starting, shutting down, full, its store away). */
  TryLater: 1013,
  BadRequest: 4400,
  InvalidAPIKey: 4401,
  /** Taken over by a newer connection of the same user. */
  SessionConflict: 4402,
  /** The token was refused or expired: a new token may do. */
  InvalidToken: 4403,
  /** An operator ended the session (and may have blocked the user). */
  Disconnected: 4410,
  RateLimited: 4429,
} as const;

export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];

/**
 * What a client does after a close code: `never` come back; `token` only with a new token; `slow`
 * after the longer rate-limited back-off; `soon` after a short pause (a pod going away); anything
 * else (and 1006, no close frame at all) after the usual back-off.
 */
export const Reconnect = {
  never: [CloseCodes.BadRequest, CloseCodes.InvalidAPIKey, CloseCodes.SessionConflict, CloseCodes.Disconnected],
  token: [CloseCodes.InvalidToken],
  slow: [CloseCodes.RateLimited],
  soon: [CloseCodes.GoingAway],
} as const;
