import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemorySessionLocks } from '../../src/adapters/memory/memory-store.js';
import { Lease } from '../../src/services/lease.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Lease', () => {
  it('is held by one pod at a time, and a pod that is not eligible hands it over', async () => {
    const locks = new MemorySessionLocks();
    const log: string[] = [];
    let aEligible = true;
    const a = new Lease(locks, 'lease', 'A', 1, { gained: () => log.push('A+'), lost: () => log.push('A-'), eligible: () => aEligible });
    const b = new Lease(locks, 'lease', 'B', 1, { gained: () => log.push('B+'), lost: () => log.push('B-') });
    a.start();
    await wait(50);
    b.start();
    await wait(700);
    assert.deepEqual([a.isHeld, b.isHeld], [true, false]);
    aEligible = false;
    await wait(900);
    assert.deepEqual([a.isHeld, b.isHeld], [false, true]);
    await a.stop();
    await b.stop();
    assert.deepEqual(log, ['A+', 'A-', 'B+', 'B-']);
  });
});
