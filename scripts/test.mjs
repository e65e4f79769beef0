// Runs every test file with node's test runner (through tsx), unit tests first.
// Usage: npm test [-- <pattern>]   e.g. npm test -- unit   or   npm test -- delivery
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const pattern = process.argv[2];

// Integration tests talk to the real Redis (127.0.0.1:6379) and NATS (nats-server binary);
// on a machine without them, start or install them first.
const services = spawnSync('bash', [new URL('./ensure-services.sh', import.meta.url).pathname], { stdio: 'inherit' });
if (services.status !== 0) process.exit(services.status ?? 1);
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.ts') && (!pattern || path.includes(pattern))) files.push(path);
  }
};
for (const dir of ['test/unit', 'test/integration', 'test/e2e']) {
  try {
    walk(dir);
  } catch {
    // a folder that does not exist has no tests
  }
}
if (files.length === 0) {
  console.error(`no test files match ${pattern ?? '(all)'}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files],
  { stdio: 'inherit', env: { ...process.env, DAISI_WS_LOG_LEVEL: process.env.DAISI_WS_LOG_LEVEL ?? 'error' } },
);
process.exit(result.status ?? 1);
