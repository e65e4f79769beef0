// What a handshake allocates in a gateway pod, garbage included, by the function that allocates:
// `node --import tsx bench/handshake-alloc.ts [handshakes] [--warm N]`. A pod in cluster mode (the
// local Redis, a nats-server of its own) takes `--warm` handshakes first, then V8's sampling heap
// profiler (through the inspector, keeping samples of objects the GC has collected since) watches
// `handshakes` more; bytes per handshake are printed by allocating function and by file.
// The garbage a burst of handshakes leaves is what an idle pod's RSS holds until the next GC, and
// part of what a handshake costs in CPU.
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { parseAesKey, sealToken } from '../src/domain/token-crypto.js';
import { startGateway, startNats } from './lib/processes.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { warm: { type: 'string', default: '2000' } } });
const N = Number(positionals[0] ?? 2000);
const WARM = Number(values.warm);
const AES = '270cec3a9081be630f5350bc42b244156615e55a2153e2652dc4f460673350c6';
const nats = await startNats();
const gw = await startGateway('127.0.0.2', {
  DAISI_WS_REDIS_ADDRESS: process.env.BENCH_REDIS_ADDRESS ?? '127.0.0.1:6379',
  DAISI_WS_NATS_URL: nats.url,
  DAISI_WS_AUTH_SECRET_TOKEN: 'k',
  DAISI_WS_AUTH_ADMIN_SECRET_TOKEN: 'a',
  DAISI_WS_AUTH_TOKEN_AES_KEY: AES,
  DAISI_WS_AUTH_ADMIN_TOKEN_AES_KEY: AES,
});

const run = `h${Date.now().toString(36)}`;
const expires = new Date(Date.now() + 3600_000).toISOString();
async function handshakes(tag: string, n: number): Promise<void> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < n; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, (_, j) => {
        const u = i + j;
        const token = sealToken(parseAesKey(AES), JSON.stringify({ company_id: run, agent_id: `a${u % 100}`, user_id: `${tag}${u}`, expires_at: expires }));
        const ws = new WebSocket(`${gw.ws}/ws/${run}/a${u % 100}?token=${encodeURIComponent(token)}&x-api-key=k`, ['json.v1'], { perMessageDeflate: false });
        sockets.push(ws);
        return new Promise((r) => ws.once('message', r));
      }),
    );
  }
  for (const s of sockets) s.terminate();
  await new Promise((r) => setTimeout(r, 1000));
}

/** One inspector session on the pod (SIGUSR1 opens it). */
async function inspector(pid: number) {
  process.kill(pid, 'SIGUSR1');
  let url: string | undefined;
  for (let i = 0; i < 50 && !url; i++) {
    await new Promise((r) => setTimeout(r, 100));
    url = await fetch('http://127.0.0.1:9229/json/list').then(async (r) => ((await r.json()) as Array<{ webSocketDebuggerUrl?: string }>)[0]?.webSocketDebuggerUrl, () => undefined);
  }
  if (!url) throw new Error(`the inspector of process ${pid} did not open`);
  const ws = new WebSocket(url, { maxPayload: 1 << 30 });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let id = 0;
  return {
    call: (method: string, params: object = {}) =>
      new Promise<any>((resolve) => {
        const mine = ++id;
        const onMessage = (m: WebSocket.RawData) => {
          const reply = JSON.parse(String(m));
          if (reply.id !== mine) return;
          ws.off('message', onMessage);
          resolve(reply.result);
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ id: mine, method, params }));
      }),
    close: () => ws.close(),
  };
}

interface ProfileNode { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: ProfileNode[] }

await handshakes('w', WARM);
const session = await inspector(gw.pid);
await session.call('HeapProfiler.enable');
await session.call('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
await handshakes('m', N);
const { profile } = await session.call('HeapProfiler.stopSampling');
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
walk(profile.head);
const total = [...byFunction.values()].reduce((a, b) => a + b, 0);
const top = (m: Map<string, number>, k: number) =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, bytes]) => `${(bytes / N).toFixed(0).padStart(7)} B  ${name}`).join('\n');
console.log(`${N} handshakes (after ${WARM} to warm up) and their closes: ${(total / N / 1024).toFixed(1)} KiB allocated per handshake`);
console.log(`--- by function\n${top(byFunction, Number(process.env.TOP ?? 40))}\n--- by file\n${top(byFile, 20)}`);
await gw.stop();
await nats.stop();
process.exit(0);
