import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_TABLES, tablesFrom } from '../../domain/cdc-tables.js';
import { ConfigError } from '../../domain/errors.js';
import { allKeys, envNameOf, type Config, type KeySpec } from './schema.js';
import { isJsonObject } from '../../domain/json.js';
import { originEntryProblem } from '../../domain/origins.js';

export type Env = Record<string, string | undefined>;

export interface LoadOptions {
  env?: Env;
  cwd?: string;
}

export interface LoadedConfig {
  config: Config;
  /** The YAML file read, when one was found. */
  file: string | undefined;
  /** A digest of the file's bytes (a reload of the same bytes changes nothing). */
  digest: string | undefined;
  /** The file holds no settings (empty, or comments only). */
  empty: boolean;
  /** Things worth a warning line that do not stop the start (placeholders, unknown keys). */
  warnings: string[];
}

const PLACEHOLDER = /^YOUR_.*_HERE$/;

/** Finds the YAML file the way the Go service's viper set-up does: DAISI_WS_CONFIG_PATH, then ".". */
export function findConfigFile(env: Env, cwd: string): string | undefined {
  const name = env.DAISI_WS_CONFIG_NAME || 'config';
  const path = env.DAISI_WS_CONFIG_PATH || './config';
  const direct = resolve(cwd, path);
  if (/\.ya?ml$/.test(path) && existsSync(direct)) return direct;
  for (const dir of [direct, cwd]) {
    for (const ext of ['yaml', 'yml']) {
      const candidate = join(dir, `${name}.${ext}`);
      if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
    }
  }
  return undefined;
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = findConfigFile(env, cwd);
  const problems: string[] = [];
  const warnings: string[] = [];
  const text = file ? readFileSync(file, 'utf8') : '';
  const yaml = file ? parseDocument(file, text, problems) : {};
  if (!file) warnings.push('no config file found; using defaults and DAISI_WS_* environment variables');
  checkKeys(yaml, warnings, problems);
  const config: Record<string, unknown> = {};
  const production = isProduction(env);
  for (const [path, spec] of allKeys()) {
    const envName = envNameOf(path);
    // An empty variable counts as unset (as viper does): `FOO=` must not wipe the file's value.
    const fromEnv = env[envName] === '' ? undefined : env[envName];
    const raw = fromEnv !== undefined ? fromEnv : lookup(yaml, path);
    const where = fromEnv !== undefined ? envName : path.join('.');
    const value =
      raw === undefined || raw === null ? defaultOf(spec, production) : coerce(raw, spec, where, problems, warnings);
    assign(config, path, value);
  }
  if (problems.length) throw new ConfigError(problems);
  const digest = file ? createHash('sha256').update(text).digest('hex') : undefined;
  return {
    config: deepFreeze(config) as unknown as Config,
    file,
    digest,
    empty: Object.keys(yaml).length === 0,
    warnings,
  };
}

export function isProduction(env: Env): boolean {
  return env.NODE_ENV === 'production';
}

function defaultOf(spec: KeySpec, production: boolean): unknown {
  if (spec.type.kind === 'list') return [];
  if (spec.type.kind === 'tables') return DEFAULT_TABLES;
  return production && spec.productionDefault !== undefined ? spec.productionDefault : spec.default;
}

/** Reads `.env` into the process environment when present (values already set win). */
export function loadDotEnv(cwd = process.cwd()): string | undefined {
  const file = join(cwd, '.env');
  if (!existsSync(file)) return undefined;
  process.loadEnvFile(file);
  return file;
}

/** The digest of the file's current bytes, or undefined when it cannot be read. */
export function digestOf(file: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(file, 'utf8')).digest('hex');
  } catch {
    return undefined;
  }
}

function parseDocument(file: string, text: string, problems: string[]): Record<string, unknown> {
  try {
    const doc = parseYaml(text) as unknown;
    if (doc === null || doc === undefined) return {};
    if (!isJsonObject(doc)) {
      problems.push(`${file} must hold a mapping of sections`);
      return {};
    }
    return doc as Record<string, unknown>;
  } catch (err) {
    problems.push(`${file} is not valid YAML (${(err as Error).message.split('\n')[0]})`);
    return {};
  }
}

function lookup(tree: Record<string, unknown>, path: string[]): unknown {
  let node: unknown = tree;
  for (const part of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function assign(tree: Record<string, unknown>, path: string[], value: unknown): void {
  let node = tree;
  for (const part of path.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** Unknown keys are worth a warning; a section that is not a mapping is a problem. */
function checkKeys(yaml: Record<string, unknown>, warnings: string[], problems: string[]): void {
  const known = new Set(allKeys().map(([p]) => p.join('.')));
  const prefixes = new Set(allKeys().flatMap(([p]) => p.slice(0, -1).map((_, i) => p.slice(0, i + 1).join('.'))));
  const walk = (node: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(node)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (known.has(path)) continue;
      if (!prefixes.has(path)) warnings.push(`unknown configuration key ${path} ignored`);
      else if (v !== null && !isJsonObject(v)) problems.push(`${path} must be a mapping of keys (got ${show(v)})`);
      else if (v) walk(v as Record<string, unknown>, path);
    }
  };
  walk(yaml, '');
}

function coerce(raw: unknown, spec: KeySpec, where: string, problems: string[], warnings: string[]): unknown {
  const type = spec.type;
  switch (type.kind) {
    case 'int': {
      const n =
        typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isInteger(n)) return fail(problems, `${where} must be a whole number (got ${show(raw)})`, spec);
      if (type.min !== undefined && n < type.min) {
        return fail(problems, `${where} must be at least ${type.min} (got ${n})`, spec);
      }
      if (type.max !== undefined && n > type.max) {
        return fail(problems, `${where} must be at most ${type.max} (got ${n})`, spec);
      }
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const s = String(raw).trim().toLowerCase();
      if (s === 'true' || s === '1') return true;
      if (s === 'false' || s === '0') return false;
      return fail(problems, `${where} must be true or false (got ${show(raw)})`, spec);
    }
    case 'enum': {
      const s = String(raw).trim().toLowerCase();
      if (type.values.includes(s)) return s;
      return fail(problems, `${where} must be one of ${type.values.join(', ')} (got ${show(raw)})`, spec);
    }
    case 'string':
      if (typeof raw === 'object') return fail(problems, `${where} must be a string`, spec);
      return String(raw);
    case 'servers': {
      if (typeof raw === 'object') return fail(problems, `${where} must be a string`, spec);
      const bad = String(raw)
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '' && serverProblem(s));
      if (bad.length > 0)
        return fail(problems, `${where}: ${bad.map((s) => `${show(s)} ${serverProblem(s)}`).join('; ')}`, spec);
      return String(raw);
    }
    case 'secret':
    case 'aesKey': {
      if (typeof raw === 'object') return fail(problems, `${where} must be a string`, spec);
      return secretOf(String(raw), type.kind, where, problems, warnings);
    }
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
      if (!items || items.some((i) => i !== null && typeof i === 'object')) {
        return fail(problems, `${where} must be a list (YAML) or comma-separated values (environment)`, spec);
      }
      const out: string[] = [];
      for (const [i, item] of items.entries()) {
        const at = `${where}[${i}]`;
        const value =
          type.item === 'address'
            ? addressOf(String(item).trim(), at, problems)
            : type.item === 'hostPort'
              ? hostPortOf(String(item).trim(), at, problems)
              : type.item === 'origin'
                ? originOf(String(item).trim(), at, problems)
                : secretOf(String(item), type.item, at, problems, warnings);
        if (value) out.push(value);
      }
      return out;
    }
    case 'tables':
      return tablesFrom(raw, where, problems);
  }
}

function secretOf(
  raw: string,
  kind: 'secret' | 'aesKey',
  where: string,
  problems: string[],
  warnings: string[],
): string {
  const s = raw.trim();
  if (PLACEHOLDER.test(s)) {
    warnings.push(`${where} is a placeholder; treated as not configured`);
    return '';
  }
  if (kind === 'aesKey' && s !== '' && !/^[0-9a-fA-F]{64}$/.test(s)) {
    problems.push(`${where} must be 64 hexadecimal characters (got ${s.length} characters)`);
    return '';
  }
  return s;
}

/** An IP address or a CIDR (`10.0.0.0/8`, `fd00::/8`). */
function addressOf(s: string, where: string, problems: string[]): string {
  if (s === '') return '';
  const [ip, bits, more] = s.split('/');
  const family = isIP(ip!);
  const max = family === 4 ? 32 : 128;
  if (!family || more !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
    problems.push(`${where} must be an IP address or a CIDR (got ${show(s)})`);
    return '';
  }
  return s;
}

/** `host:port` (a name or an IP; `[v6]:port`). */
function hostPortOf(s: string, where: string, problems: string[]): string {
  if (s === '') return '';
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    problems.push(`${where} must be host:port (got ${show(s)})`);
    return '';
  }
  return s;
}

/** Why one of nats.url's servers cannot be dialled, or undefined. */
function serverProblem(s: string): string | undefined {
  const withScheme = /^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return 'is not a URL (nats://host:port)';
  }
  if (!['nats:', 'tls:', 'ws:', 'wss:'].includes(url.protocol)) return `has scheme ${url.protocol} (nats:// or tls://)`;
  if (!url.hostname) return 'names no host';
  return undefined;
}

function fail(problems: string[], message: string, spec: KeySpec): unknown {
  problems.push(message);
  return spec.default;
}

function show(raw: unknown): string {
  return JSON.stringify(raw) ?? String(raw);
}

function deepFreeze<T extends object>(obj: T): T {
  for (const value of Object.values(obj)) if (value && typeof value === 'object') deepFreeze(value);
  return Object.freeze(obj);
}

function originOf(raw: string, where: string, problems: string[]): string {
  const problem = originEntryProblem(raw);
  if (problem) problems.push(`${where}: ${problem}`);
  return problem ? '' : raw;
}
