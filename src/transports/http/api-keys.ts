import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, GatewayError } from '../../domain/errors.js';

/** Constant-time comparison (SPEC §9.9): both sides hashed so that lengths leak nothing either. */
export function keysEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The client key check of /ws and /generate-token: missing or wrong → 401 InvalidAPIKey. */
export function checkClientKey(given: string | undefined, expected: string): void {
  if (!expected) throw new GatewayError(ErrorCodes.Internal, 'Server configuration error', 'API authentication cannot be performed.');
  if (!given) {
    throw new GatewayError(ErrorCodes.InvalidAPIKey, 'API key is required', 'Provide API key in X-API-Key header or x-api-key query parameter.');
  }
  if (!keysEqual(given, expected)) throw new GatewayError(ErrorCodes.InvalidAPIKey, 'Invalid API key', 'The provided API key is not valid.');
}

/** The admin key check: missing → 401 E4001, wrong → 403 E4003. */
export function checkAdminKey(given: string | undefined, expected: string): void {
  if (!expected) throw new GatewayError(ErrorCodes.Internal, 'Server configuration error', 'Token generation auth cannot be performed.');
  if (!given) throw new GatewayError(ErrorCodes.Unauthorized, 'Admin API key is required', 'Provide admin API key in X-API-Key header.');
  if (!keysEqual(given, expected)) throw new GatewayError(ErrorCodes.Forbidden, 'Invalid admin API key', 'The provided admin API key is not valid.');
}
