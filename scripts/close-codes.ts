// The client SDK's copy of the close codes (client/src/close-codes.ts), generated from the one table
// (src/domain/close-codes.ts): the SDK is its own package and cannot import from src/.
//   npx tsx scripts/close-codes.ts          print it
//   npx tsx scripts/close-codes.ts --write  write it (npm run codes)
// test/unit/close-codes.test.ts fails when the SDK's copy is not this one.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const SOURCE = new URL('../src/domain/close-codes.ts', import.meta.url);
export const TARGET = new URL('../client/src/close-codes.ts', import.meta.url);

export function clientCopy(source = readFileSync(SOURCE, 'utf8')): string {
  const body = source.slice(source.indexOf('export const CloseCodes'));
  return `// Generated from src/domain/close-codes.ts by \`npm run codes\`: edit that file, not this one.\n${body}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv.includes('--write')) writeFileSync(TARGET, clientCopy());
  else process.stdout.write(clientCopy());
}
