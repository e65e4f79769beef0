import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/**
 * The SDK as a package (client/README.md): `npm pack` builds it (prepare), a fresh folder installs the
 * tarball, imports it from ESM, and compiles an application using its types under `strict`, with the
 * browser's WebSocket and with the `ws` package's.
 */
describe('the client SDK as an npm package', { timeout: 120_000 }, () => {
  let dir: string;
  let app: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'daisi-sdk-'));
    run('npm', ['pack', '--silent', '--pack-destination', dir], join(ROOT, 'client'));
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack made a tarball');
    app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', join(dir, tarball)], app);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('installs from the tarball and imports from ESM: a client that says where it stands', () => {
    writeFileSync(
      join(app, 'use.mjs'),
      `import { DaisiClient } from '@daisi-ws/client';
       const c = new DaisiClient({ url: 'ws://127.0.0.1:1/ws/a/b', apiKey: 'k', token: 't', WebSocket: class { constructor() {} } });
       console.log(JSON.stringify({ state: c.state, position: c.position }));`,
    );
    const out = JSON.parse(run(process.execPath, ['use.mjs'], app));
    assert.deepEqual(out, { state: 'disconnected', position: { epoch: '', seq: 0 } });
  });

  it('compiles an application under tsc --strict with both WebSocket kinds, without casts', () => {
    const modules = join(app, 'node_modules');
    mkdirSync(join(modules, '@types'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules/ws'), join(modules, 'ws'));
    for (const types of ['ws', 'node'])
      symlinkSync(join(ROOT, 'node_modules/@types', types), join(modules, '@types', types));
    copyFileSync(join(ROOT, 'test/fixtures/sdk-types/strict.ts'), join(app, 'strict.ts'));
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022', 'DOM'],
          types: ['node'],
          esModuleInterop: true,
          skipLibCheck: false,
        },
        files: ['strict.ts'],
      }),
    );
    run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
  });
});
