import { CloseCodes } from '../../domain/close-codes.js';
import { ErrorCodes, GatewayError } from '../../domain/errors.js';

/** The errors the server closes a connection with on its own account (error frame, then close code). */

/** The Go service's pong timeout: an InternalServerError frame, close 1011 (CloseWithError). */
export const pongTimeout = () =>
  new GatewayError(ErrorCodes.Internal, 'Pong timeout', 'No pong or message received within the configured time.');
export const slowClient = (why = 'Frames waited longer than websocket_slow_client_disconnect_threshold_ms.') =>
  new GatewayError(ErrorCodes.Internal, 'Slow client', why);
export const writeTimedOut = () =>
  new GatewayError(ErrorCodes.Internal, 'Write timeout', 'A frame was not written within write_timeout_seconds.');

/** A token that expired and was not refreshed: InvalidToken, close 4403 (docs/protocol.md, *Session lifetime*). */
export const tokenExpired = () =>
  new GatewayError(ErrorCodes.InvalidToken, 'Token expired', 'Refresh the token before it expires.');

export const SLOW_CLIENT_CLOSE = CloseCodes.SlowClient;
