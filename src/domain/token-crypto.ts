import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { TokenError } from './errors.js';

/**
 * AES-256-GCM token sealing, byte-compatible with the Go service's pkg/crypto/aesgcm.go:
 * token = base64.URLEncoding (URL-safe alphabet, '=' padding) of nonce(12) ‖ ciphertext ‖ tag(16).
 */
export const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/**
 * Whether `token` is padded URL-safe base64 once the '\r' and '\n' that Go's decoder skips anywhere
 * are left out (nothing else is skipped): a loop over the characters, as every handshake asks.
 */
function isPaddedBase64Url(token: string): boolean {
  let length = 0;
  let padding = 0;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c === 13 || c === 10) continue;
    length++;
    if (c === 61)
      padding++; // '='
    else if (padding > 0 || !isBase64UrlCharCode(c)) return false;
  }
  return length % 4 === 0 && padding <= 2;
}

function isBase64UrlCharCode(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 /* - */ || c === 95 /* _ */;
}

export function decodeTokenBytes(token: string): Buffer {
  if (!isPaddedBase64Url(token)) {
    throw new TokenError('invalid_token_format', 'token is not padded URL-safe base64');
  }
  // Node's decoder skips '\r' and '\n' as Go's does.
  return Buffer.from(token, 'base64url');
}

export function parseAesKey(hex: string): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error('AES key must be 64 hexadecimal characters');
  return Buffer.from(hex, 'hex');
}

export function openToken(key: Buffer, token: string): Buffer {
  const raw = decodeTokenBytes(token);
  if (raw.length < NONCE_BYTES) {
    throw new TokenError('ciphertext_too_short', `token is ${raw.length} bytes, at least ${NONCE_BYTES} needed`);
  }
  if (raw.length < NONCE_BYTES + TAG_BYTES) throw new TokenError('decryption_failed', 'token decryption failed');
  const nonce = raw.subarray(0, NONCE_BYTES);
  const tag = raw.subarray(raw.length - TAG_BYTES);
  const ciphertext = raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw new TokenError('decryption_failed', 'token decryption failed');
  }
}

export function sealToken(key: Buffer, plaintext: Buffer | string): string {
  if (key.length !== KEY_BYTES) throw new Error(`AES key must be ${KEY_BYTES} bytes`);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()])
    .toString('base64url')
    .padEnd(Math.ceil((NONCE_BYTES + body.length + TAG_BYTES) / 3) * 4, '=');
}
