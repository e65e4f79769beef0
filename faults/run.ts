// The fault suite: npm run faults [-- --short] [-- --rows redis-kill,pod-kill] [-- --record]
// Every row runs against processes of its own (redis-server, nats-server, pods on 127.0.0.x)
// under a steady load, with resuming clients on every pod; it fails (exit 1) when any client
// lost, duplicated or re-ordered an event. --record writes the table into RELIABILITY.md.
// FAULTS_DEBUG=1 prints what each session lost (subject@seq) and the errors it was sent.
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { nats210 } from '../support/nats-cluster.js';
import { TestPostgres } from '../support/postgres-server.js';
import { ROWS, runRow, type RowResult } from './rows.js';

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    rows: { type: 'string' },
    record: { type: 'boolean', default: false },
  },
});
const wanted = values.rows?.split(',');
const rows = ROWS.filter((r) => (wanted ? wanted.includes(r.name) : !values.short || r.short)).filter((r) => {
  const missing =
    r.postgres && !TestPostgres.available() ? 'PostgreSQL 15' : r.clustered && !nats210() ? 'nats-server 2.10' : '';
  if (missing) process.stdout.write(`- ${r.name}: skipped (no ${missing})\n`);
  return !missing;
});
const results: RowResult[] = [];
const started = Date.now();
for (const row of rows) {
  process.stdout.write(`… ${row.name}: ${row.title}\n`);
  results.push(await runRow(row, values.short, (line) => process.stdout.write(`  ${line}\n`)));
}

const table = [
  '| row | sessions | events published | lost | duplicated | out of order | reconnects | recovery | outcome |',
  '|---|---|---|---|---|---|---|---|---|',
  ...results.map(
    (r) =>
      `| ${r.title} (\`${r.row}\`) | ${r.sessions} | ${r.published} | ${r.lost} | ${r.duplicated} | ` +
      `${r.outOfOrder} | ${r.reconnects} | ${(r.recoveryMs / 1000).toFixed(1)} s | ` +
      `${r.ok ? 'ok' : '**failed**'}${r.note ? ` — ${r.note}` : ''} |`,
  ),
].join('\n');
const args = [...(values.short ? ['--short'] : []), ...(wanted ? ['--rows', wanted.join(',')] : [])];
const command = `npm run faults${args.length ? ` -- ${args.join(' ')}` : ''}`;
const summary = `${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length} failed`;
process.stdout.write(`\n${table}\n\n${summary} in ${Math.round((Date.now() - started) / 1000)} s (${command})\n`);

if (values.record) {
  const file = new URL('../RELIABILITY.md', import.meta.url);
  const doc = readFileSync(file, 'utf8');
  const stamp =
    `Latest run: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, \`${command}\`, ` +
    `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${summary}.`;
  writeFileSync(
    file,
    doc.replace(
      /<!-- faults:begin -->[\s\S]*<!-- faults:end -->/,
      `<!-- faults:begin -->\n${stamp}\n\n${table}\n<!-- faults:end -->`,
    ),
  );
}
process.exit(results.every((r) => r.ok) ? 0 : 1);
