import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { uid } from '../helpers/env.js';
import { companyToken, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { expectedFor, publishLoad } from '../helpers/load.js';
import { replyFrom } from '../../support/ipc.js';
import { useFleet } from '../helpers/fleet.js';
import { TestClient } from '../helpers/ws-client.js';
import { sleep } from '../helpers/wait.js';

const AGENTS = 50;

/**
 * docs/protocol.md, *Resume*, the reconnect storm: pod A dies with 1,000 sessions; they all resume on B and C at
 * once. Nobody misses an event, the sessions already on B and C keep their latency, and the
 * resumes put no consumer per session on NATS.
 */
describe('reconnect storm: 1,000 sessions resume on two pods at once', () => {
  const fleet = useFleet(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  const company = uid('c');
  let stormClients: StormClients | undefined;
  // The clients' process must go whatever the test's outcome, or this file's process never ends.
  after(() => stormClients?.stop());

  // The figures — every session back within 2 s, the live p99 of the other sessions under
  // 100 ms — are speed targets: they are asserted by `npm run bench:storm` (this file with
  // BENCH_FIGURES=1), not by `npm test`, whose runs on a shared machine measure its load as much
  // as the gateway (the same commit: back in 1.2–1.4 s one day, 2.9 s the next). `npm test` prints
  // them and asserts what does not depend on the machine's speed: every session resumes with its
  // full sequence, the others keep receiving, no consumer per session.
  it(
    'pod A SIGKILLed at 500 events/s: every session resumes on B or C with the full sequence, the others keep ' +
      'receiving, no consumer per session (its time and p99: npm run bench:storm)',
    async () => {
      const { pods, pub, stream } = fleet;
      const [a, b, c] = pods as [ChildGateway, ChildGateway, ChildGateway];
      const agentOf = (i: number) => `a${i % AGENTS}`;
      const chatsOf = (i: number) => `wa.${company}.${agentOf(i)}.chats`;
      const url = (pod: ChildGateway, i: number, user: string) =>
        userUrl(pod.ws, company, agentOf(i), companyToken(company, agentOf(i), user));
      const storm = await StormClients.start();
      stormClients = storm;
      const sessions = Array.from({ length: 1000 }, (_, i) => ({
        url: url(a, i, `ua${i}`),
        resumeUrl: url(i % 2 ? b : c, i, `ua${i}`),
        key: chatsOf(i),
      }));
      await storm.open(sessions);
      const others = await Promise.all(
        Array.from({ length: 100 }, (_, i) => TestClient.ready(url(i % 2 ? b : c, i, `uo${i}`))),
      );

      const load = publishLoad(
        pub,
        Array.from({ length: AGENTS }, (_, i) => chatsOf(i)),
        5000,
        500,
      );
      await sleep(3000);
      const killedAt = Date.now();
      const consumerCounts: number[] = [];
      const sampling = setInterval(
        () =>
          void pub.consumerCount(stream).then(
            (n) => consumerCounts.push(n),
            () => undefined,
          ),
        100,
      );
      await a.kill();
      const published = await load;
      await sleep(1000);
      clearInterval(sampling);
      const expected = Object.fromEntries(
        sessions.map((s) => [s.key, expectedFor(published, [s.key]).map((e) => e.id)]),
      );
      const report = await storm.report(sessions, expected);

      const slowest = Math.max(...report.resumedAt) - killedAt;
      const lastReady = Math.max(...report.readyAt) - killedAt;
      assert.equal(report.resumedAt.length, 1000);
      assert.deepEqual(report.failures, [], 'every resumed session has the full sequence');
      const stormLatencies: number[] = [];
      for (const o of others) {
        for (const r of o.raw) {
          if (!r.text.startsWith('{"type":"event"')) continue;
          const sentAt = JSON.parse(r.text).payload.sent_at as number;
          if (sentAt >= killedAt && sentAt <= killedAt + 3000) stormLatencies.push(r.at - sentAt);
        }
      }
      stormLatencies.sort((x, y) => x - y);
      const p99 = stormLatencies[Math.floor(stormLatencies.length * 0.99)]!;
      console.log(
        `storm: all 1,000 back (ready) ${lastReady} ms and resumed ${slowest} ms after the kill; live p99 on B and ` +
          `C during the storm ${p99} ms over ${stormLatencies.length} deliveries; NATS consumers at most ` +
          `${Math.max(...consumerCounts)} (${consumerCounts.length} samples)`,
      );
      if (process.env.BENCH_FIGURES) {
        assert.ok(slowest <= 2000, `every session resumed within ${slowest} ms of the kill`);
        assert.ok(p99 < 100, `live p99 on B and C during the storm: ${p99} ms`);
      }
      assert.ok(stormLatencies.length > 1000, 'the sessions on B and C kept receiving during the storm');
      assert.ok(Math.max(...consumerCounts) <= 3 + 2 * 4, 'no consumer per session');
      await Promise.all(others.map((x) => x.close()));
      storm.stop();
    },
  );
});

/** The storm's 1,000 sessions, in a process of their own (test/helpers/storm-clients.ts). */
class StormClients {
  private constructor(private readonly child: ChildProcess) {}

  static async start(): Promise<StormClients> {
    // TEST_CPU_PROF_DIR: the clients' process writes a CPU profile there too (it exits on SIGTERM).
    const prof = process.env.TEST_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.TEST_CPU_PROF_DIR}`] : [];
    const child = fork(new URL('../helpers/storm-clients.ts', import.meta.url).pathname, [], {
      execArgv: [...prof, '--import', 'tsx'],
    });
    const clients = new StormClients(child);
    await clients.reply('up');
    return clients;
  }

  async open(sessions: Array<{ url: string; resumeUrl: string; key: string }>): Promise<void> {
    this.child.send({ cmd: 'open', sessions });
    await this.reply('opened');
  }

  async report(
    sessions: unknown[],
    expected: Record<string, string[]>,
  ): Promise<{ readyAt: number[]; resumedAt: number[]; failures: string[] }> {
    this.child.send({ cmd: 'report', sessions, expected });
    return this.reply('report');
  }

  stop(): void {
    this.child.kill();
  }

  private reply<T>(type: string): Promise<T> {
    return replyFrom<T>(this.child, type);
  }
}
