import assert from 'node:assert/strict';
import { waitFor } from '../helpers/wait.js';
import { execFileSync } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { Metrics } from '../../src/platform/metrics.js';

function metricValue(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('process metrics', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  it('counts open file descriptors without listing handles on the event loop', async () => {
    let accepted = 0;
    const server = createServer(() => accepted++).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as { port: number };
    const metrics = new Metrics(false);
    const sockets: Socket[] = [];
    try {
      const before = metricValue(await metrics.registry.metrics(), 'process_open_fds');
      await Promise.all(
        Array.from(
          { length: 50 },
          () => new Promise((resolve) => sockets.push(connect(port, '127.0.0.1', () => resolve(undefined)))),
        ),
      );
      await waitFor(() => accepted === 50);
      const text = await metrics.registry.metrics();
      const after = metricValue(text, 'process_open_fds');
      assert.ok(before !== undefined && after !== undefined, 'process_open_fds is exported');
      // 50 client sockets and the server's side of each: 100 more, give or take the runtime's own
      // (Node 24 closes one of its descriptors meanwhile).
      assert.ok(after - before >= 95, `open fds ${before} → ${after}`);
      assert.ok(
        !/^nodejs_active_handles/m.test(text) && !/^nodejs_active_resources/m.test(text),
        'no per-handle listing',
      );
      assert.ok(
        /^process_cpu_user_seconds_total /m.test(text) && /^nodejs_eventloop_lag_p99_seconds /m.test(text),
        'the other defaults stay',
      );
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it('does not wake an idle process a hundred times a second to sample the loop', () => {
    // In a process of its own: every Metrics samples the loop for as long as the process lives.
    // The main thread's voluntary context switches are its wake-ups from waiting for work.
    const script = `
      import { readFileSync } from 'node:fs';
      import { Metrics } from ${JSON.stringify(new URL('../../src/platform/metrics.ts', import.meta.url).pathname)};
      const status = () => readFileSync('/proc/self/task/' + process.pid + '/status', 'utf8');
      const switches = () => Number(/^voluntary_ctxt_switches:\\s+(\\d+)/m.exec(status())[1]);
      const metrics = new Metrics(false);
      await new Promise((r) => setTimeout(r, 300));
      const before = switches();
      await new Promise((r) => setTimeout(r, 1000));
      const woken = switches() - before;
      const text = await metrics.registry.metrics();
      console.log(JSON.stringify({ woken, lag: /^nodejs_eventloop_lag_max_seconds /m.test(text) }));`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .at(-1)!,
    );
    assert.ok(out.lag, 'the loop-lag histogram is still exported');
    // Sampled every 10 ms (prom-client's default) this is 99–100; every 100 ms about 11.
    assert.ok(out.woken < 40, `woken ${out.woken} times in a second`);
  });
});
