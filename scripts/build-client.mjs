// Builds the client SDK: client/dist/index.js and its types (tsc), and the one minified browser
// module the gateway serves at GET /daisi-ws-client.js (esbuild). Prints the module's size.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
export const BROWSER_MODULE = `${root}client/dist/daisi-ws-client.js`;

const tsc = spawnSync(
  process.execPath,
  [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}client/tsconfig.json`],
  {
    stdio: 'inherit',
  },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
await build({
  entryPoints: [`${root}client/src/index.ts`],
  outfile: BROWSER_MODULE,
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  legalComments: 'none',
});
const bytes = readFileSync(BROWSER_MODULE);
console.log(
  `client: ${BROWSER_MODULE.slice(root.length)} ${bytes.length} bytes, ${gzipSync(bytes, { level: 9 }).length} min+gzip`,
);
