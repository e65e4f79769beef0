import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../platform/config/schema.js';
import { AuthFailure, ErrorCodes, GatewayError } from '../domain/errors.js';

/** The current key first, then those still accepted during a rotation (SECURITY.md, *Limits*). */
export type KeyRing = readonly [current: string, ...previous: string[]];

export const clientKeys = (auth: Config['auth']): KeyRing => [auth.secret_token, ...auth.previous_secret_tokens];
export const adminKeys = (auth: Config['auth']): KeyRing => [
  auth.admin_secret_token,
  ...auth.previous_admin_secret_tokens,
];

/**
 * Digests of the configured keys, made once: every handshake compares against them. Only keys
 * of the configuration go in (a handful, replaced on reload), never what a client sent.
 */
const configuredDigests = new Map<string, Buffer>();
const MAX_CONFIGURED_DIGESTS = 64;

function configuredDigest(key: string): Buffer {
  let digest = configuredDigests.get(key);
  if (!digest) {
    if (configuredDigests.size >= MAX_CONFIGURED_DIGESTS) configuredDigests.clear();
    digest = digestOf(key);
    configuredDigests.set(key, digest);
  }
  return digest;
}

function digestOf(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Constant-time comparison (docs/compat.md #9): both sides hashed so that lengths leak nothing either. */
function matches(given: string, ring: KeyRing): boolean {
  const digest = digestOf(given);
  let found = false;
  // Every key is compared, so that the time taken says nothing about which one matched.
  for (const key of ring) if (key && timingSafeEqual(digest, configuredDigest(key))) found = true;
  return found;
}

/** The client key check of /ws and /generate-token: missing or wrong → 401 InvalidAPIKey. */
export function checkClientKey(given: string | undefined, ring: KeyRing): void {
  if (!ring[0])
    throw new GatewayError(
      ErrorCodes.Internal,
      'Server configuration error',
      'API authentication cannot be performed.',
    );
  if (!given) {
    throw new AuthFailure(
      new GatewayError(
        ErrorCodes.InvalidAPIKey,
        'API key is required',
        'Provide API key in X-API-Key header or x-api-key query parameter.',
      ),
      'missing_api_key',
    );
  }
  if (!matches(given, ring))
    throw new AuthFailure(
      new GatewayError(ErrorCodes.InvalidAPIKey, 'Invalid API key', 'The provided API key is not valid.'),
      'invalid_api_key',
    );
}

/** The admin key check: missing → 401 E4001, wrong → 403 E4003. */
export function checkAdminKey(given: string | undefined, ring: KeyRing): void {
  if (!ring[0])
    throw new GatewayError(
      ErrorCodes.Internal,
      'Server configuration error',
      'Token generation auth cannot be performed.',
    );
  if (!given)
    throw new AuthFailure(
      new GatewayError(
        ErrorCodes.Unauthorized,
        'Admin API key is required',
        'Provide admin API key in X-API-Key header.',
      ),
      'missing_api_key',
    );
  if (!matches(given, ring))
    throw new AuthFailure(
      new GatewayError(ErrorCodes.Forbidden, 'Invalid admin API key', 'The provided admin API key is not valid.'),
      'invalid_api_key',
    );
}
