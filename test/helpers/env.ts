import { randomBytes } from 'node:crypto';

export const KEYS = {
  client: 'test-client-key-0123456789',
  admin: 'test-admin-key-0123456789',
  aes: '270cec3a9081be630f5350bc42b244156615e55a2153e2652dc4f460673350c6',
  adminAes: '97c2f43def2596ff2d635e924f6de7918b2eb1b79b761974c2493afb597c9e1b',
};

export const REDIS_ADDRESS = process.env.TEST_REDIS_ADDRESS ?? '127.0.0.1:6379';

/** A fresh id, so that tests sharing one Redis never see each other's keys. */
export function uid(prefix = 't'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

export { freePortNumber } from '../../support/ports.js';

export function baseEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DAISI_WS_CONFIG_PATH: new URL('../../config/', import.meta.url).pathname,
    DAISI_WS_SERVER_HTTP_PORT: '0',
    DAISI_WS_SERVER_GRPC_PORT: '0',
    DAISI_WS_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    DAISI_WS_AUTH_SECRET_TOKEN: KEYS.client,
    DAISI_WS_AUTH_ADMIN_SECRET_TOKEN: KEYS.admin,
    DAISI_WS_AUTH_TOKEN_AES_KEY: KEYS.aes,
    DAISI_WS_AUTH_ADMIN_TOKEN_AES_KEY: KEYS.adminAes,
    DAISI_WS_APP_SESSION_LOCK_RETRY_DELAY_MS: '50',
    ...overrides,
  };
}
