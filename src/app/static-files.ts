import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'public');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Serves public/ (the demo page) as it is: no build step. */
export function staticFiles(): (path: string) => { type: string; body: Buffer } | undefined {
  return (path) => {
    const rel = normalize(path === '/' ? '/index.html' : path);
    if (rel.includes('..')) return undefined;
    const file = join(PUBLIC_DIR, rel);
    const type = TYPES[extname(file)];
    if (!type || !existsSync(file)) return undefined;
    return { type, body: readFileSync(file) };
  };
}
