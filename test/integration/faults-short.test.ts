import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROWS, runRow } from '../../faults/rows.js';
import { TestPostgres } from '../../support/postgres-server.js';

/**
 * The short run of the fault suite (`npm run faults -- --short`): its rows marked short, with
 * shorter loads, as part of `npm test`. The whole suite is `npm run faults` (RELIABILITY.md).
 */
describe('fault suite, short run', () => {
  for (const row of ROWS.filter((r) => r.short)) {
    const skip = row.postgres && !TestPostgres.available() && 'no PostgreSQL 15 binaries';
    it(`${row.title}: every client gets every event once, in order`, { skip }, async () => {
      const result = await runRow(row, true);
      console.log(`# ${row.name}: ${JSON.stringify(result)}`);
      assert.deepEqual(
        {
          lost: result.lost,
          duplicated: result.duplicated,
          outOfOrder: result.outOfOrder,
          note: result.ok ? '' : result.note,
        },
        { lost: 0, duplicated: 0, outOfOrder: 0, note: '' },
      );
      assert.ok(result.expected > 0 && result.delivered >= result.expected, 'the load reached the sessions');
    });
  }
});
