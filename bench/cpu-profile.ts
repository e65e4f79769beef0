// Reads a .cpuprofile (`npm run bench -- --profile`, `--cpu-prof`) without a browser:
//   node --import tsx bench/cpu-profile.ts FILE [--from S] [--to S]   self and total time by function, and by file
//   … --callers NAME                                                     the stacks that lead to function NAME
//   … --timeline MS [--names a,b]                                        busy, idle and GC per MS window, and time
// under each name
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    callers: { type: 'string' },
    timeline: { type: 'string' },
    names: { type: 'string', default: '' },
    top: { type: 'string', default: '40' },
  },
});
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
};
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const from = Number(values.from ?? 0) * 1e6;
const to = Number(values.to ?? Infinity) * 1e6;
const TOP = Number(values.top);

const nameOf = (n: Node) => n.callFrame.functionName || '(anonymous)';
const fileOf = (n: Node) => n.callFrame.url.replace(/.*node_modules\//, '').replace(/.*\/(dist|src|bench)\//, '$1/');
const keyOf = (n: Node) => `${nameOf(n)} ${fileOf(n)}:${n.callFrame.lineNumber + 1}`;
const stackOf = (n: Node | undefined) => {
  const stack: Node[] = [];
  for (; n; n = byId.get(parent.get(n.id)!)) stack.push(n);
  return stack;
};
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
const ms = (us: number) => (us / 1000).toFixed(0).padStart(7);

/** Each sample in the window: its stack (leaf first), when, and the time it stands for (µs). */
function* samples(): Generator<{ stack: Node[]; at: number; us: number }> {
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i]!;
    if (at < from || at > to) continue;
    yield { stack: stackOf(byId.get(profile.samples[i]!)), at, us: profile.timeDeltas[i + 1] ?? 0 };
  }
}

if (values.callers) {
  const stacks = new Map<string, number>();
  for (const { stack, us } of samples()) {
    const i = stack.findIndex((n) => nameOf(n) === values.callers);
    if (i >= 0)
      add(
        stacks,
        stack
          .slice(i, i + 9)
          .map(keyOf)
          .join(' < '),
        us,
      );
  }
  for (const [s, us] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${ms(us)} ms  ${s}`);
} else if (values.timeline) {
  const window = Number(values.timeline) * 1000;
  const names = values.names.split(',').filter(Boolean);
  const rows = new Map<number, Map<string, number>>();
  for (const { stack, at, us } of samples()) {
    const row =
      rows.get(Math.floor(at / window)) ?? rows.set(Math.floor(at / window), new Map()).get(Math.floor(at / window))!;
    const leaf = nameOf(stack[0]!);
    add(row, leaf === '(idle)' ? 'idle' : 'busy', us);
    if (leaf === '(garbage collector)') add(row, 'gc', us);
    for (const name of new Set(stack.map(nameOf))) if (names.includes(name)) add(row, name, us);
  }
  for (const [w, row] of [...rows].sort((a, b) => a[0] - b[0])) {
    console.log(
      `${((w * window) / 1e6).toFixed(1)}s ` +
        `${['busy', 'idle', 'gc', ...names].map((k) => `${k} ${ms(row.get(k) ?? 0).trim()}`).join(' ')}`,
    );
  }
} else {
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const byFile = new Map<string, number>();
  let all = 0;
  for (const { stack, us } of samples()) {
    all += us;
    add(self, keyOf(stack[0]!), us);
    add(byFile, fileOf(stack[0]!) || '(native)', us);
    for (const k of new Set(stack.map(keyOf))) add(total, k, us);
  }
  const top = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP)
      .map(([k, us]) => `${ms(us)} ms ${((100 * us) / all).toFixed(1).padStart(5)} %  ${k}`)
      .join('\n');
  console.log(
    `${ms(all).trim()} ms sampled\n--- self\n${top(self)}\n--- total\n${top(total)}\n--- by file ` +
      `(self)\n${top(byFile)}`,
  );
}
