import { randomBytes } from 'node:crypto';
import type { Env } from './load.js';
import type { Config } from './schema.js';

export interface DevSecrets {
  env: Env;
  generated: string[];
}

/**
 * First run in development: secrets that are not configured get random values for this run
 * only, so that the gateway is usable at once. In production (NODE_ENV=production) nothing is
 * generated and the caller refuses to start without configured secrets.
 */
export function devSecretsFor(cfg: Config): DevSecrets {
  const env: Env = {};
  const generated: string[] = [];
  const add = (name: string, value: string) => {
    env[name] = value;
    generated.push(name);
  };
  if (!cfg.auth.secret_token) add('DAISI_WS_AUTH_SECRET_TOKEN', randomBytes(16).toString('hex'));
  if (!cfg.auth.admin_secret_token) add('DAISI_WS_AUTH_ADMIN_SECRET_TOKEN', randomBytes(16).toString('hex'));
  if (!cfg.auth.token_aes_key) add('DAISI_WS_AUTH_TOKEN_AES_KEY', randomBytes(32).toString('hex'));
  if (!cfg.auth.admin_token_aes_key) add('DAISI_WS_AUTH_ADMIN_TOKEN_AES_KEY', randomBytes(32).toString('hex'));
  return { env, generated };
}

export function missingSecrets(cfg: Config): string[] {
  const a = cfg.auth;
  return Object.entries({
    'auth.secret_token': a.secret_token,
    'auth.admin_secret_token': a.admin_secret_token,
    'auth.token_aes_key': a.token_aes_key,
    'auth.admin_token_aes_key': a.admin_token_aes_key,
  })
    .filter(([, v]) => !v)
    .map(([k]) => k);
}
