import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, it } from 'node:test';
import { TestNatsServer } from '../../support/nats-server.js';
import { freePortNumber, REDIS_ADDRESS, uid } from '../helpers/env.js';
import { useFleet } from '../helpers/fleet.js';
import { companyToken, spawnGateway, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { event, TestPublisher } from '../helpers/publisher.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';

// Interest reading across a fleet of pods (docs/architecture.md, *How an event travels*): NATS sends a
// pod nothing that none of its sessions wants — measured on the server's own counters (connz).

interface Connz {
  connections: Array<{ name?: string; out_msgs: number; out_bytes: number }>;
}

async function connz(port: number): Promise<Connz> {
  return (await fetch(`http://127.0.0.1:${port}/connz?limit=1024`)).json() as Promise<Connz>;
}

/** What NATS sent each pod's connection (its name ends with the pod id). */
async function sentTo(port: number, pods: ChildGateway[]): Promise<Array<{ msgs: number; bytes: number }>> {
  const { connections } = await connz(port);
  return pods.map((pod) => {
    const mine = connections.filter((c) => c.name?.endsWith(pod.podId));
    assert.ok(mine.length > 0, `a connection of ${pod.podId} in connz`);
    return {
      msgs: mine.reduce((n, c) => n + c.out_msgs, 0),
      bytes: mine.reduce((n, c) => n + c.out_bytes, 0),
    };
  });
}

function assertOnceInOrder(frames: Frame[], expected: string[], who: string): void {
  assert.deepEqual(
    frames.map((f) => f.payload.event_id),
    expected,
    `${who}: every event once, in order`,
  );
}

describe('interest reading: three pods whose sessions want disjoint agents', { timeout: 120_000 }, () => {
  const monitor = freePortNumber();
  const fleet = useFleet(['127.0.0.2', '127.0.0.3', '127.0.0.4'], { natsArgs: ['-m', String(monitor)] });
  const company = uid('c');

  it("sends the other pods' connections (almost) nothing of 3,000 events to one agent", async (t) => {
    const { pods, pub } = fleet;
    const agents = pods.map(() => uid('a'));
    const open = (i: number, chat?: string) =>
      TestClient.ready(
        userUrl(pods[i]!.ws, company, agents[i]!, companyToken(company, agents[i]!, uid('u'))) +
          (chat ? `&chat_id=${chat}` : ''),
      );
    const viewers = await Promise.all(pods.map((_, i) => open(i, 'k')));
    const listers = await Promise.all(pods.map((_, i) => open(i)));
    await sleep(300);
    const before = await sentTo(monitor, pods);
    const ids: string[] = [];
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < 3000; i++) {
      const subject = i % 2 ? `wa.${company}.${agents[0]}.chats` : `wa.${company}.${agents[0]}.messages.k`;
      ids.push(`e${i}`);
      pending.push(pub.publish(subject, event(`e${i}`)));
      if (pending.length >= 200) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    const chatsOnly = ids.filter((_, i) => i % 2 === 1);
    await viewers[0]!.waitEvents(3000, 30_000);
    await listers[0]!.waitEvents(1500, 30_000);
    await sleep(500);
    const afterwards = await sentTo(monitor, pods);
    const sent = afterwards.map((a, i) => ({ msgs: a.msgs - before[i]!.msgs, bytes: a.bytes - before[i]!.bytes }));
    assertOnceInOrder(viewers[0]!.events(), ids, 'the viewer of the chat');
    assertOnceInOrder(listers[0]!.events(), chatsOnly, 'the chat list');
    t.diagnostic(`sent by NATS per pod: ${sent.map((s) => `${s.msgs} messages, ${s.bytes} bytes`).join('; ')}`);
    assert.ok(sent[0]!.msgs >= 3000, `the wanting pod was sent ${sent[0]!.msgs} messages`);
    for (const i of [1, 2]) {
      // What remains is its own JetStream API replies (a look at the stream each second).
      assert.ok(sent[i]!.msgs < 60, `pod ${i} was sent ${sent[i]!.msgs} messages (${sent[i]!.bytes} bytes)`);
      assert.ok(sent[i]!.bytes < sent[0]!.bytes / 100, `pod ${i} was sent ${sent[i]!.bytes} bytes`);
      assert.equal(viewers[i]!.events().length + listers[i]!.events().length, 0);
    }
    await Promise.all([...viewers, ...listers].map((c) => c.close()));
  });

  it('gives a session opened while its agent’s events flow every event published after its ready, once', async () => {
    const { pods, pub } = fleet;
    const agents = Array.from({ length: 30 }, () => uid('a'));
    const published: Array<{ agent: string; id: string; at: number }> = [];
    let stop = false;
    const flowing = (async () => {
      for (let i = 0; !stop; i++) {
        const agent = agents[i % agents.length]!;
        const at = Date.now();
        await pub.publish(`wa.${company}.${agent}.chats`, event(`s${i}`));
        published.push({ agent, id: `s${i}`, at });
      }
    })();
    const sessions: Array<{ agent: string; client: TestClient; readyAt: number }> = [];
    try {
      for (const [i, agent] of agents.entries()) {
        const client = await TestClient.ready(
          userUrl(pods[i % 3]!.ws, company, agent, companyToken(company, agent, uid('u'))),
        );
        sessions.push({ agent, client, readyAt: Date.now() });
        await sleep(20);
      }
      await sleep(300);
    } finally {
      stop = true;
      await flowing;
    }
    // Every session has its agent's last event: what was published is all in (a miss fails below, by name).
    const last = new Map(published.map((p) => [p.agent, p.id]));
    await waitFor(
      () => sessions.every((s) => s.client.events().some((f) => f.payload.event_id === last.get(s.agent))),
      10_000,
      "each session's last event",
    ).catch(() => undefined);
    for (const { agent, client, readyAt } of sessions) {
      const got = client.events().map((f) => f.payload.event_id as string);
      const mine = published.filter((p) => p.agent === agent);
      const owed = mine.filter((p) => p.at > readyAt).map((p) => p.id);
      assert.equal(new Set(got).size, got.length, `${agent}: none twice`);
      const order = mine.map((p) => p.id);
      assert.deepEqual(
        got,
        order.filter((id) => got.includes(id)),
        `${agent}: in order`,
      );
      for (const id of owed) assert.ok(got.includes(id), `${agent}: ${id}, published after ready, arrived`);
      assert.ok(owed.length > 0, `${agent}: events were published after its ready`);
    }
    await Promise.all(sessions.map((s) => s.client.close()));
  });
});

/** A nats-server 2.10 binary (scripts/fetch-nats-2.10.sh), or why there is none. */
function natsServer210(): { path?: string; why?: string } {
  try {
    const script = new URL('../../scripts/fetch-nats-2.10.sh', import.meta.url).pathname;
    return { path: execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim() };
  } catch (err) {
    return { why: `no nats-server 2.10 to be had: ${(err as Error).message.split('\n')[0]}` };
  }
}

describe('a stream made without a republish', { timeout: 120_000 }, () => {
  const cases: Array<{ server: string; binary: () => { path?: string; why?: string }; adds: boolean }> = [
    { server: 'nats-server 2.10', binary: natsServer210, adds: true },
    { server: 'nats-server 2.9', binary: () => ({}), adds: false },
  ];
  for (const { server, binary, adds } of cases) {
    it(
      adds
        ? `${server}: the pod adds the republish (one log line) and reads its interest`
        : `${server}: the pod says in one log line why it reads the whole stream, and delivers`,
      async (t) => {
        const bin = binary();
        if (bin.why) return t.skip(bin.why);
        const nats = await TestNatsServer.start([], bin.path);
        const stream = uid('s');
        const pub = await TestPublisher.connect(nats.url);
        let pod: ChildGateway | undefined;
        try {
          const jsm = await jetstreamManager(pub.nc);
          await jsm.streams.add({ name: stream, subjects: ['wa.>'] });
          pod = await spawnGateway('127.0.0.5', {
            DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
            DAISI_WS_NATS_URL: nats.url,
            DAISI_WS_NATS_STREAM_NAME: stream,
          });
          const company = uid('c');
          const agent = uid('a');
          const client = await TestClient.ready(
            userUrl(pod.ws, company, agent, companyToken(company, agent, uid('u'))),
          );
          for (let i = 0; i < 5; i++) await pub.publish(`wa.${company}.${agent}.chats`, event(`e${i}`));
          assertOnceInOrder(await client.waitEvents(5), ['e0', 'e1', 'e2', 'e3', 'e4'], 'the session');
          const lines = (text: string) => pod!.output.filter((l) => l.includes(text));
          const reading = lines('"reading the stream"').map((l) => JSON.parse(l).read_mode);
          const republish = (await jsm.streams.info(stream)).config.republish;
          if (adds) {
            assert.equal(lines('the stream republishes what it stores').length, 1);
            assert.deepEqual(republish, { src: 'wa.>', dest: 'dws.wa.>' });
            assert.deepEqual(reading, ['interest']);
            assert.equal(await pub.consumerCount(stream), 0, 'no consumer: it reads its interest');
          } else {
            const why = lines('reading all of wa.>');
            assert.equal(why.length, 1, 'one line says why');
            assert.match(JSON.parse(why[0]!).why, /does not add a republish/);
            assert.equal(republish, undefined);
            assert.deepEqual(reading, ['stream']);
          }
          await client.close();
        } finally {
          await pod?.stop();
          await pub.close();
          await nats.stop();
        }
      },
    );
  }
});
