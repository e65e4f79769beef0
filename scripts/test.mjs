// Runs the tests with node's test runner (through tsx), unit tests first.
// Usage: npm test                 lint, format check, then every test (unit, integration, end to end)
//        npm test -- <pattern>    the test files whose path contains <pattern> (no lint)
//        npm run test:unit        the unit tests alone: no Redis, no NATS, no network
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const unitOnly = process.argv[2] === '--unit';
const pattern = unitOnly ? undefined : process.argv[2];
const run = (command, args, env = process.env) => spawnSync(command, args, { stdio: 'inherit', env }).status ?? 1;

if (!unitOnly && !pattern) {
  // The house rules first: a change that does not pass them fails here, in seconds.
  for (const script of ['lint', 'format:check']) {
    const status = run('npm', ['run', '--silent', script]);
    if (status !== 0) {
      console.error(`npm test: \`npm run ${script}\` failed (\`npm run format\` fixes the formatting)`);
      process.exit(status);
    }
  }
}
// The client SDK's browser module: the gateway serves it, the tests load it (and check its size).
if (run(process.execPath, [new URL('./build-client.mjs', import.meta.url).pathname]) !== 0) process.exit(1);
if (!unitOnly) {
  // Integration tests talk to the real Redis (127.0.0.1:6379) and NATS (nats-server binary); on a
  // machine without them, start or install them first.
  const status = run('bash', [new URL('./ensure-services.sh', import.meta.url).pathname]);
  if (status !== 0) process.exit(status);
}
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.ts') && (!pattern || path.includes(pattern))) files.push(path);
  }
};
for (const dir of unitOnly ? ['test/unit'] : ['test/unit', 'test/integration', 'test/e2e']) {
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
const env = { ...process.env, DAISI_WS_LOG_LEVEL: process.env.DAISI_WS_LOG_LEVEL ?? 'error' };
process.exit(
  run(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files], env),
);
