import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Env } from './load.js';
import type { Config } from './schema.js';

/** Where development keeps the secrets it generated: the gateway and the CLI run from the same folder. */
export const DEV_SECRETS_FILE = join('.daisi-ws', 'dev-secrets.json');

export interface DevSecrets {
  /** DAISI_WS_AUTH_* for the secrets the configuration lacks. */
  env: Env;
  /** Those generated now (the rest came from the file). */
  generated: string[];
  /** The file they are kept in. */
  file: string;
}

const SECRETS: Array<{ name: string; key: keyof Config['auth']; bytes: number }> = [
  { name: 'DAISI_WS_AUTH_SECRET_TOKEN', key: 'secret_token', bytes: 16 },
  { name: 'DAISI_WS_AUTH_ADMIN_SECRET_TOKEN', key: 'admin_secret_token', bytes: 16 },
  { name: 'DAISI_WS_AUTH_TOKEN_AES_KEY', key: 'token_aes_key', bytes: 32 },
  { name: 'DAISI_WS_AUTH_ADMIN_TOKEN_AES_KEY', key: 'admin_token_aes_key', bytes: 32 },
];

/**
 * Development (never NODE_ENV=production): the secrets the configuration lacks come from
 * `.daisi-ws/dev-secrets.json` in the working folder, and with `generate` those not there yet are
 * made at random and written to it (mode 0600). So the gateway is usable at once, keeps its keys
 * across restarts (a demo URL stays valid), and `daisi-ws token` / `publish` / `sessions` find them.
 */
export function devSecretsFor(cfg: Config, options: { generate: boolean; dir?: string }): DevSecrets {
  const file = join(options.dir ?? process.cwd(), DEV_SECRETS_FILE);
  const saved = readSaved(file);
  const env: Env = {};
  const generated: string[] = [];
  for (const { name, key, bytes } of SECRETS) {
    if (cfg.auth[key]) continue;
    if (saved[name]) env[name] = saved[name];
    else if (options.generate) {
      env[name] = randomBytes(bytes).toString('hex');
      generated.push(name);
    }
  }
  if (generated.length > 0) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${JSON.stringify({ ...saved, ...env }, null, 2)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600); // an existing file keeps its mode on write
  }
  return { env, generated, file };
}

function readSaved(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, string>) : {};
  } catch {
    return {}; // unreadable: new ones are generated and written over it
  }
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
