// What an idle session costs on the heap, by constructor: a gateway pod (cluster mode, the local
// Redis and a nats-server of its own) with 1,000 sessions, heap snapshots before and after, the difference
// per session. Usage: node --import tsx bench/idle-heap.ts [sessions] [--holders]
import { readFileSync, readdirSync, rmSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { parseAesKey, sealToken } from '../src/domain/token-crypto.js';
import { PROBE_AES_KEY, startNats, startProbePod } from './lib/processes.js';

const N = Number(process.argv[2] ?? 1000);
const dir = mkdtempSync(join(tmpdir(), 'dws-heap-'));
const nats = await startNats();
const gw = await startProbePod(nats.url, ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`]);

type Census = Map<string, { count: number; size: number; holders: Map<string, number> }>;

/** The heap by constructor: count, size, and who holds them (retainer's name and the edge). */
async function snapshot(): Promise<Census> {
  const before = new Set(readdirSync(dir));
  process.kill(gw.pid, 'SIGUSR2');
  let file: string | undefined;
  while (!file) {
    await new Promise((r) => setTimeout(r, 500));
    file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
  }
  // Written out: its size has stopped changing (a fixed wait was too short for a large heap).
  for (let size = -1; size !== statSync(join(dir, file)).size; ) {
    size = statSync(join(dir, file)).size;
    await new Promise((r) => setTimeout(r, 1500));
  }
  const snap = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const fields: string[] = snap.snapshot.meta.node_fields;
  const types: string[] = snap.snapshot.meta.node_types[0];
  const [iType, iName, iSize, iEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) => fields.indexOf(f));
  const edgeFields: string[] = snap.snapshot.meta.edge_fields;
  const edgeTypes: string[] = snap.snapshot.meta.edge_types[0];
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => edgeFields.indexOf(f));
  const nameOf = (i: number) => {
    const type = types[snap.nodes[i + iType!]];
    return type === 'object' || type === 'closure' ? `${type}:${snap.strings[snap.nodes[i + iName!]]}` : `(${type})`;
  };
  const holder = new Map<number, string>();
  for (let i = 0, e = 0; i < snap.nodes.length; i += fields.length) {
    for (let k = 0; k < snap.nodes[i + iEdges!]; k++, e += edgeFields.length) {
      const kind = edgeTypes[snap.edges[e + eType!]];
      if (kind === 'weak') continue;
      const label = kind === 'element' || kind === 'hidden' ? `[${kind}]` : snap.strings[snap.edges[e + eName!]];
      if (!holder.has(snap.edges[e + eTo!])) holder.set(snap.edges[e + eTo!], `${nameOf(i)}.${label}`);
    }
  }
  const out: Census = new Map();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const name = nameOf(i);
    const e = out.get(name) ?? { count: 0, size: 0, holders: new Map() };
    e.count++;
    e.size += snap.nodes[i + iSize!];
    const by = holder.get(i) ?? '(none)';
    e.holders.set(by, (e.holders.get(by) ?? 0) + 1);
    out.set(name, e);
  }
  return out;
}

const base = await snapshot();
const sockets: WebSocket[] = [];
const expires = new Date(Date.now() + 3600_000).toISOString();
for (let i = 0; i < N; i += 100) {
  await Promise.all(
    Array.from({ length: Math.min(100, N - i) }, (_, j) => {
      const u = i + j;
      const token = sealToken(
        parseAesKey(PROBE_AES_KEY),
        JSON.stringify({ company_id: 'heap', agent_id: `a${u % 100}`, user_id: `u${u}`, expires_at: expires }),
      );
      const ws = new WebSocket(
        `${gw.ws}/ws/heap/a${u % 100}?token=${encodeURIComponent(token)}&x-api-key=k`,
        ['json.v1'],
        { perMessageDeflate: false },
      );
      sockets.push(ws);
      return new Promise((r) => ws.once('message', r));
    }),
  );
}
await new Promise((r) => setTimeout(r, 2000));
const after = await snapshot();
const rows = [...after]
  .map(([name, a]) => ({
    name,
    count: a.count - (base.get(name)?.count ?? 0),
    size: a.size - (base.get(name)?.size ?? 0),
  }))
  .filter((r) => r.size > 0)
  .sort((x, y) => y.size - x.size)
  .slice(0, 30);
const total = rows.reduce((s, r) => s + r.size, 0);
console.log(`${N} idle sessions: +${(total / N / 1024).toFixed(1)} KiB per session in the top constructors`);
for (const r of rows) {
  console.log(
    `${(r.size / N).toFixed(0).padStart(6)} B/session  ${(r.count / N).toFixed(1).padStart(5)}/session  ${r.name}`,
  );
  // With --holders: the first holder found of each, by what holds it, grown since the first snapshot.
  if (!process.argv.includes('--holders')) continue;
  const was = base.get(r.name)?.holders ?? new Map<string, number>();
  const grown = [...after.get(r.name)!.holders]
    .map(([h, n]) => [h, n - (was.get(h) ?? 0)] as const)
    .filter(([, n]) => n >= N / 2);
  for (const [h, n] of grown.sort((x, y) => y[1] - x[1]).slice(0, 5))
    console.log(`${''.padStart(30)}${(n / N).toFixed(1)}/session held by ${h}`);
}
for (const s of sockets) s.terminate();
await gw.stop();
await nats.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
