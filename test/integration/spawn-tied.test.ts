import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { it } from 'node:test';
import { waitFor } from '../helpers/wait.js';

/** Gone: no such process, or a zombie nobody has reaped yet (it runs nothing and holds no port). */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

it('a server a test started dies with the test process, even one killed with SIGKILL (support/spawn-tied.ts)', async () => {
  // The "test process": starts a long sleep the way the support code starts servers, says its pid, and waits.
  const starter = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      "import('./support/spawn-tied.ts').then((m) => console.log(m.spawnTied('sleep', ['60'], { stdio: 'ignore' }).pid))",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = await createInterface({ input: starter.stdout! })
    [Symbol.asyncIterator]()
    .next()
    .then((r) => [r.value]);
  const pid = Number(line);
  assert.ok(pid > 0, `the starter said its server's pid (${line})`);
  assert.equal(gone(pid), false, 'the server runs');
  starter.kill('SIGKILL');
  await waitFor(() => gone(pid), 5000, 'the server is gone once its starter is');
});
