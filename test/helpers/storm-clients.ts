// A child process of the reconnect-storm test: holds many sessions on one pod, and when that pod
// dies, resumes each on another pod with `since`. Kept out of the test's own process so that the
// test measures the live latency of other sessions without these clients' handshakes in the way.
// Messages: {cmd:'open', sessions:[{url, resumeUrl}]} → {type:'opened'};
// {cmd:'report', sessions, expected: {[key]: string[]}} → {type:'report', readyAt, resumedAt, failures}.
import { TestClient } from './ws-client.js';

interface Spec {
  url: string;
  /** Where to resume (without since/epoch). */
  resumeUrl: string;
  /** The events this session must end with, in order. */
  key: string;
}

const firsts: TestClient[] = [];
const backs: Array<Promise<TestClient>> = [];
const readyAt: number[] = [];
const resumedAt: number[] = [];

process.on('message', async (m: { cmd: string; sessions?: Spec[]; expected?: Record<string, string[]> }) => {
  if (m.cmd === 'open') {
    const specs = m.sessions!;
    for (let i = 0; i < specs.length; i += 100)
      firsts.push(...(await Promise.all(specs.slice(i, i + 100).map((s) => TestClient.ready(s.url)))));
    firsts.forEach((first, i) => {
      backs.push(
        first.closed.then(async () => {
          const last = first.events().at(-1);
          const back = await TestClient.ready(
            `${specs[i]!.resumeUrl}&since=${last?.seq ?? 0}&epoch=${first.frames[0]!.payload.epoch}`,
          );
          readyAt.push(Date.now());
          await back.next((f) => f.type === 'resumed', 10_000);
          resumedAt.push(Date.now());
          return back;
        }),
      );
    });
    process.send!({ type: 'opened' });
  } else if (m.cmd === 'report') {
    const resumed = await Promise.all(backs);
    const failures: string[] = [];
    resumed.forEach((back, i) => {
      const expected = m.expected![m.sessions![i]!.key]!;
      const got = [...firsts[i]!.events(), ...back.events()].map((f) => f.payload.event_id as string);
      if (got.join() !== expected.join())
        failures.push(`session ${i}: ${got.length} events, expected ${expected.length}`);
    });
    await Promise.all([...resumed, ...firsts].map((c) => c.close()));
    process.send!({ type: 'report', readyAt, resumedAt, failures });
  }
});
process.send!({ type: 'up' });
// Exit rather than die on SIGTERM, so that a CPU profile (--cpu-prof) is written.
process.on('SIGTERM', () => process.exit(0));
