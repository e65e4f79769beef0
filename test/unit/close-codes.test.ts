import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clientCopy, TARGET } from '../../scripts/close-codes.js';
import { CloseCodes, Reconnect } from '../../src/domain/close-codes.js';
import { ErrorCodes, wsCloseCodeOf } from '../../src/domain/errors.js';

const root = new URL('../../', import.meta.url).pathname;
const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });

describe('close codes: one table, shared with the SDK', () => {
  it("the SDK's copy is generated from the server's table (npm run codes)", () => {
    assert.equal(readFileSync(TARGET, 'utf8'), clientCopy());
  });

  it('every error code closes with a code of the table (or 1000, which closes nothing)', () => {
    const known = new Set<number>([...Object.values(CloseCodes), 1000]);
    for (const code of Object.values(ErrorCodes)) assert.ok(known.has(wsCloseCodeOf(code)), code);
    for (const codes of Object.values(Reconnect)) for (const c of codes) assert.ok(known.has(c));
  });

  it('no close code is written as a number outside the table (comments and text aside)', () => {
    // 1000 (Normal) is also a second in milliseconds everywhere: it counts only where a close code goes.
    const others = Object.values(CloseCodes).filter((c) => c !== CloseCodes.Normal);
    const numbers = new RegExp(
      `\\b(${others.join('|')})\\b|(close|terminate)\\(\\s*1000\\b|\\bws:\\s*1000\\b|[cC]ode\\s*[!=]==?\\s*1000\\b`,
    );
    const offenders: string[] = [];
    for (const file of [...sources(join(root, 'src')), ...sources(join(root, 'client/src'))]) {
      if (file.endsWith('close-codes.ts') || file.includes('/adapters/postgres/')) continue; // pg type OIDs
      for (const [i, line] of readFileSync(file, 'utf8').split('\n').entries()) {
        // Code only: comments and text (documentation strings) may name a code.
        const code = line.replace(/'[^']*'|"[^"]*"|`[^`]*`/g, '').replace(/\/\/.*$|^\s*\*.*$|\/\*.*\*\//g, '');
        if (numbers.test(code)) offenders.push(`${file.slice(root.length)}:${i + 1}: ${line.trim()}`);
      }
    }
    assert.deepEqual(offenders, []);
  });
});
