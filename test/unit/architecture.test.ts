import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const SRC = new URL('../../src/', import.meta.url).pathname;

/**
 * The layers of docs/architecture.md, bottom first, and what each may import. A file may always
 * import from its own folder.
 */
const MAY_IMPORT: Record<string, string[]> = {
  domain: [],
  platform: ['domain'],
  adapters: ['domain', 'platform'],
  services: ['domain', 'platform'],
  transports: ['domain', 'platform', 'services'],
  app: ['domain', 'platform', 'adapters', 'services', 'transports'],
};

/** Services report through metric hooks (domain/metric-hooks.ts), not the Prometheus objects. */
const NOT_FROM: Record<string, string[]> = {
  services: ['platform/metrics.ts'],
  domain: [],
  adapters: ['platform/metrics.ts'],
};

/** Within adapters and transports, the sub-folders are side by side: none imports another, except the shared one. */
const SIBLINGS_APART = new Set(['adapters', 'transports']);
const SHARED = 'shared';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => resolve(dirname(file), m[1]!));
}

const layerOf = (path: string) => path.split('/')[0]!;
const folderOf = (path: string) => dirname(path);

/** The arrows (paths relative to src/) that go against the layers. */
function wrongArrows(edges: Array<[from: string, to: string]>): string[] {
  const wrong: string[] = [];
  for (const [file, target] of edges) {
    const [from, to] = [layerOf(file), layerOf(target)];
    const where = `${file} → ${target}`;
    if (!(to in MAY_IMPORT)) wrong.push(`${where}: outside src/`);
    else if (to === from) {
      const [a, b] = [folderOf(file).split('/'), folderOf(target).split('/')];
      if (SIBLINGS_APART.has(from) && a[1] !== b[1] && b[1] !== SHARED)
        wrong.push(`${where}: ${from}/${a[1]} and ${from}/${b[1]} are side by side`);
    } else if (!MAY_IMPORT[from]!.includes(to)) wrong.push(`${where}: ${from} may not import ${to}`);
    else if (NOT_FROM[from]?.includes(target.replace(/\.js$/, '.ts')))
      wrong.push(`${where}: ${from} report through metric hooks`);
  }
  return wrong;
}

describe('architecture: the arrows point one way (docs/architecture.md)', () => {
  it('every import of src/ goes to its own layer, or to a layer its layer may import', () => {
    const edges = files(SRC).flatMap((file) =>
      importsOf(file).map((target) => [relative(SRC, file), relative(SRC, target)] as [string, string]),
    );
    assert.ok(edges.length > 200, `${edges.length} imports read`);
    assert.deepEqual(wrongArrows(edges), []);
  });

  it('refuses an arrow against the direction, and one between side-by-side folders', () => {
    assert.deepEqual(
      wrongArrows([
        ['services/resume.ts', 'transports/ws/turns.js'],
        ['adapters/redis/scripts.ts', 'adapters/nats/connection.js'],
        ['transports/ws/ws-endpoint.ts', 'transports/shared/request.js'],
        ['app/gateway.ts', 'adapters/redis/connection.js'],
        ['services/resume.ts', 'platform/metrics.js'],
        ['transports/ws/heartbeat.ts', 'platform/metrics.js'],
      ]),
      [
        'services/resume.ts → transports/ws/turns.js: services may not import transports',
        'adapters/redis/scripts.ts → adapters/nats/connection.js: adapters/redis and adapters/nats are side by side',
        'services/resume.ts → platform/metrics.js: services report through metric hooks',
      ],
    );
  });
});
