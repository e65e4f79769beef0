import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StaticFile } from '../transports/http/http-server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PUBLIC_DIR = join(ROOT, 'public');
/** The client SDK's browser module, built by `npm run build` (scripts/build-client.mjs). */
const CLIENT_MODULE = join(ROOT, 'client', 'dist', 'daisi-ws-client.js');
const CLIENT_MODULE_PATH = '/daisi-ws-client.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
/** Paths that are a page without their extension. */
const PAGES: Record<string, string> = { '/': '/index.html', '/admin': '/admin.html', '/favicon.ico': '/favicon.svg' };
/** Smaller than this, compressing saves less than its headers cost. */
const COMPRESS_MIN_BYTES = 512;

/** Serves public/ (the demo and operator pages) as it is, and the client module: no build step of their own. */
export function staticFiles(): (path: string) => StaticFile | undefined {
  return (path) => {
    if (path === CLIENT_MODULE_PATH) return existsSync(CLIENT_MODULE) ? fileAt(CLIENT_MODULE, true) : undefined;
    const rel = normalize(PAGES[path] ?? path);
    if (rel.includes('..')) return undefined;
    const file = join(PUBLIC_DIR, rel);
    return TYPES[extname(file)] && existsSync(file) ? fileAt(file, false) : undefined;
  };
}

/** Files as read, with their compressed forms: made once per change of the file, not per request. */
const cache = new Map<string, { mtimeMs: number; file: StaticFile }>();

function fileAt(path: string, cacheable: boolean): StaticFile {
  const { mtimeMs } = statSync(path);
  const hit = cache.get(path);
  if (hit?.mtimeMs === mtimeMs) return hit.file;
  const body = readFileSync(path);
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  const file: StaticFile = { type: TYPES[extname(path)]!, body, etag, cacheable };
  if (body.length >= COMPRESS_MIN_BYTES) {
    file.gzip = gzipSync(body, { level: 9 });
    file.br = brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
  }
  cache.set(path, { mtimeMs, file });
  return file;
}
