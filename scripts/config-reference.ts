// Prints the configuration reference (a markdown table) from the schema: npx tsx scripts/config-reference.ts
import { allKeys, envNameOf } from '../src/platform/config/schema.js';

const rows = allKeys().map(([path, spec]) => {
  const def = spec.type.kind === 'list' ? '[]' : spec.default === '' ? '""' : String(spec.default);
  const type = spec.type.kind === 'enum' ? spec.type.values.join(' \\| ') : spec.type.kind;
  const notes = [spec.doc, spec.extra ? '*(beyond the Go service)*' : '', spec.restart ? '*(restart)*' : '']
    .filter(Boolean)
    .join(' ');
  return `| \`${path.join('.')}\` | \`${envNameOf(path)}\` | ${type} | \`${def}\` | ${notes} |`;
});
console.log(['| key | environment variable | type | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n'));
