// What a handshake allocates in a gateway pod, garbage included, by the function that allocates:
// `node --import tsx bench/handshake-alloc.ts [handshakes] [--warm N]`. A pod in cluster mode (the
// local Redis, a nats-server of its own) takes `--warm` handshakes first, then V8's sampling heap
// profiler (through the inspector, keeping samples of objects the GC has collected since) watches
// `handshakes` more; bytes per handshake are printed by allocating function and by file.
// The garbage a burst of handshakes leaves is what an idle pod's RSS holds until the next GC, and
// part of what a handshake costs in CPU. With `--promoted`, objects that die in the young generation
// are left out and the sessions are still open when sampling stops: what is left is what a
// handshake keeps (its session) plus what outlived two scavenges and became old-generation garbage.
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { parseAesKey, sealToken } from '../src/domain/token-crypto.js';
import { inspectorOf, PROBE_AES_KEY, startNats, startProbePod } from './lib/processes.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { warm: { type: 'string', default: '2000' }, promoted: { type: 'boolean', default: false } },
});
const N = Number(positionals[0] ?? 2000);
const WARM = Number(values.warm);
const nats = await startNats();
const gw = await startProbePod(nats.url);

const run = `h${Date.now().toString(36)}`;
const expires = new Date(Date.now() + 3600_000).toISOString();
async function handshakes(tag: string, n: number, beforeClose?: () => Promise<void>): Promise<void> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < n; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, (_, j) => {
        const u = i + j;
        const token = sealToken(
          parseAesKey(PROBE_AES_KEY),
          JSON.stringify({ company_id: run, agent_id: `a${u % 100}`, user_id: `${tag}${u}`, expires_at: expires }),
        );
        const ws = new WebSocket(
          `${gw.ws}/ws/${run}/a${u % 100}?token=${encodeURIComponent(token)}&x-api-key=k`,
          ['json.v1'],
          { perMessageDeflate: false },
        );
        sockets.push(ws);
        return new Promise((r) => ws.once('message', r));
      }),
    );
  }
  await beforeClose?.();
  for (const s of sockets) s.terminate();
  await new Promise((r) => setTimeout(r, 1000));
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

await handshakes('w', WARM);
const session = await inspectorOf(gw.pid);
await session.call('HeapProfiler.enable');
await session.call('HeapProfiler.startSampling', {
  samplingInterval: 1024,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: !values.promoted,
});
let profile: ProfileNode | undefined;
const stop = async () => {
  profile = (await session.call('HeapProfiler.stopSampling')).profile.head;
};
await handshakes('m', N, values.promoted ? stop : undefined);
if (!profile) await stop();
session.close();

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
const walk = (node: ProfileNode) => {
  const file = node.callFrame.url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, 'dist/') || '(native)';
  const fn = `${node.callFrame.functionName || '(anonymous)'} ${file}:${node.callFrame.lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + node.selfSize);
  byFile.set(file, (byFile.get(file) ?? 0) + node.selfSize);
  for (const c of node.children) walk(c);
};
walk(profile!);
const total = [...byFunction.values()].reduce((a, b) => a + b, 0);
const top = (m: Map<string, number>, k: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([name, bytes]) => `${(bytes / N).toFixed(0).padStart(7)} B  ${name}`)
    .join('\n');
console.log(
  values.promoted
    ? `${N} handshakes (after ${WARM} to warm up), sessions open: ${(total / N / 1024).toFixed(1)} KiB per ` +
        `handshake kept or promoted`
    : `${N} handshakes (after ${WARM} to warm up) and their closes: ${(total / N / 1024).toFixed(1)} KiB allocated ` +
        `per handshake`,
);
console.log(`--- by function\n${top(byFunction, Number(process.env.TOP ?? 40))}\n--- by file\n${top(byFile, 20)}`);
await gw.stop();
await nats.stop();
process.exit(0);
