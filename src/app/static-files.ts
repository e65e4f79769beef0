import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
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
};
/** Paths that are a page without their extension. */
const PAGES: Record<string, string> = { '/': '/index.html', '/admin': '/admin.html' };

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

function fileAt(file: string, cacheable: boolean): StaticFile {
  const body = readFileSync(file);
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { type: TYPES[extname(file)]!, body, etag, cacheable };
}
