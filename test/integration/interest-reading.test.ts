import assert from 'node:assert/strict';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { after, before, describe, it } from 'node:test';
import { InterestReader } from '../../src/adapters/nats/interest-reader.js';
import { TestNatsServer } from '../../support/nats-server.js';
import { uid } from '../helpers/env.js';
import { event } from '../helpers/publisher.js';
import { sleep, waitFor } from '../helpers/wait.js';

// Interest reading (docs/architecture.md, *How an event travels*) against real nats-servers: a pod is
// sent only what its sessions want, and still gets each subject's events in order, exactly once — across
// events lost in transit, subscriptions added while events flow, and a reconnect.

interface Got {
  subject: string;
  seq: number;
}

function startInterestReader(nc: NatsConnection, stream: string, got: Got[], lost: Got[] = []): InterestReader {
  return new InterestReader(
    nc,
    { stream, prefix: 'dws', start: { kind: 'next' }, checkMs: 1000, description: 'test' },
    {
      event: (subject, _data, seq) => void got.push({ subject, seq }),
      startingAt: () => undefined,
      lost: (subject, seq) => void lost.push({ subject, seq }),
      reset: () => undefined,
      epochChanged: () => undefined,
      missing: () => undefined,
      failed: () => undefined,
    },
  );
}

/** Per subject, the sequences in the order they came. */
function bySubject(got: Got[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const g of got) out.set(g.subject, [...(out.get(g.subject) ?? []), g.seq]);
  return out;
}

describe('the interest reader against a nats-server', { timeout: 60_000 }, () => {
  let nats: TestNatsServer;
  let nc: NatsConnection;

  before(async () => {
    nats = await TestNatsServer.start();
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    await nc.close();
    await nats.stop();
  });

  it('reads events lost in transit from the stream before the later ones of their subject', async () => {
    // The stream republishes to relay.wa.>; a relay hands the reader's prefix all but a few (lost in transit).
    const stream = uid('s');
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: ['wa.>'], republish: { src: 'wa.>', dest: 'relay.wa.>' } });
    const dropped = new Set([5, 6, 10]); // a2's, a3's (nobody's), a1's
    const relay = nc.subscribe('relay.wa.>', {
      callback: (_err, msg) => {
        const seq = Number(msg.headers?.get('Nats-Sequence'));
        if (dropped.has(seq)) return;
        const h = headers();
        for (const [k, v] of msg.headers!) for (const value of v) h.append(k, value);
        nc.publish(`dws.${msg.subject.slice('relay.'.length)}`, msg.data, { headers: h });
      },
    });
    const got: Got[] = [];
    const lost: Got[] = [];
    const reader = startInterestReader(nc, stream, got, lost);
    try {
      await reader.start(['wa.c.a1.chats', 'wa.c.a2.>']);
      await Promise.all([reader.whenLive('wa.c.a1.chats'), reader.whenLive('wa.c.a2.>')]);
      const js = jetstream(nc);
      const published = new Map<string, number[]>();
      for (let i = 0; i < 30; i++) {
        const subject = ['wa.c.a1.chats', 'wa.c.a2.messages.k', 'wa.c.a3.chats'][i % 3]!;
        const { seq } = await js.publish(subject, JSON.stringify(event(`e${i}`)));
        published.set(subject, [...(published.get(subject) ?? []), seq]);
      }
      published.delete('wa.c.a3.chats'); // nobody wants it
      await waitFor(() => got.length >= 20, 10_000, 'every wanted event');
      await sleep(200);
      assert.deepEqual(bySubject(got), published, 'each subject in order, exactly once, the lost ones too');
      // Seen at a2's next event (8: its previous is 5, the reader's last of a2 was 2) and at a1's (13, after
      // 7); each reported with its first late event, which sessions past it get out of order.
      assert.deepEqual(
        lost.map((l) => [l.subject, l.seq]),
        [
          ['wa.c.a2.messages.k', 5],
          ['wa.c.a1.chats', 10],
        ],
      );
    } finally {
      relay.unsubscribe();
      await reader.stop();
      await jsm.streams.delete(stream);
    }
  });

  it('takes a subscription added while events flow from its live-from on: every later event once, in order', async () => {
    const stream = uid('s');
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: ['wa.>'], republish: { src: 'wa.>', dest: 'dws.wa.>' } });
    const got: Got[] = [];
    const reader = startInterestReader(nc, stream, got);
    const publisher = await connect({ servers: nats.url });
    const js = jetstream(publisher);
    const published: Got[] = [];
    let stop = false;
    const flowing = (async () => {
      for (let i = 0; !stop; i++) {
        const subject = i % 2 ? 'wa.c.a1.chats' : `wa.c.a1.messages.k${i % 3}`;
        const { seq } = await js.publish(subject, JSON.stringify(event(`e${i}`)));
        published.push({ subject, seq });
      }
    })();
    try {
      await reader.start([]);
      await waitFor(() => published.length > 200, 10_000);
      reader.add('wa.c.a1.chats');
      await waitFor(() => published.length > 400, 10_000);
      reader.add('wa.c.a1.messages.*');
      await waitFor(() => published.length > 700, 10_000);
      stop = true;
      await flowing;
      const chats = await reader.whenLive('wa.c.a1.chats');
      const messages = await reader.whenLive('wa.c.a1.messages.*');
      const expected = bySubject(published.filter((p) => p.seq > (p.subject.endsWith('.chats') ? chats : messages)));
      await waitFor(
        () => got.length >= [...expected.values()].flat().length,
        10_000,
        'every event after the live-from',
      );
      await sleep(200);
      const seen = bySubject(got);
      for (const [subject, seqs] of seen) {
        assert.deepEqual(
          seqs,
          [...seqs].sort((a, b) => a - b),
          `${subject} in order`,
        );
        assert.equal(new Set(seqs).size, seqs.length, `${subject} once`);
        const after = seqs.filter((q) => q > (subject.endsWith('.chats') ? chats : messages));
        assert.deepEqual(after, expected.get(subject), `${subject}: everything after its live-from`);
      }
      assert.ok(chats > 0 && messages > chats, 'live-froms measured while events flowed');
    } finally {
      stop = true;
      await flowing;
      await publisher.close();
      await reader.stop();
      await jsm.streams.delete(stream);
    }
  });
});

for (const ownConnection of [true, false])
  describe(`the interest reader across a nats-server SIGKILL and restart (${ownConnection ? 'its own connection' : 'nats.js'})`, {
    timeout: 60_000,
  }, () => {
    it('reads what was published before it was subscribed again from the stream, then live: once, in order', async () => {
      const nats = await TestNatsServer.start();
      // The reader's connection comes back a second after the server; the publisher's at once.
      const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 1000 });
      const stream = uid('s');
      await (await jetstreamManager(nc)).streams.add({
        name: stream,
        subjects: ['wa.>'],
        republish: { src: 'wa.>', dest: 'dws.wa.>' },
      });
      const got: Got[] = [];
      const resets: string[] = [];
      const reader = new InterestReader(
        nc,
        { stream, prefix: 'dws', start: { kind: 'next' }, checkMs: 1000, description: 'test', ownConnection },
        {
          event: (subject, _data, seq) => void got.push({ subject, seq }),
          startingAt: () => undefined,
          lost: () => undefined,
          reset: (why) => void resets.push(why),
          epochChanged: () => undefined,
          missing: () => undefined,
          failed: () => undefined,
        },
      );
      const published: number[] = [];
      const publishSome = async (count: number, subject = 'wa.c.a1.chats') => {
        const publisher = await connect({ servers: nats.url });
        const js = jetstream(publisher);
        for (let i = 0; i < count; i++) published.push((await js.publish(subject, '{"event_id":"x"}')).seq);
        await publisher.close();
      };
      try {
        await reader.start(['wa.c.a1.chats', 'wa.c.a2.chats']);
        await reader.whenLive('wa.c.a1.chats');
        await publishSome(100);
        await waitFor(() => got.length >= 100, 10_000);
        await nats.kill();
        await nats.run();
        // While the reader is still away; a1 has nothing after these (they are not a gap any live event shows).
        await publishSome(300);
        await waitFor(() => resets.length > 0, 10_000, 'the reader catches up after its reconnect');
        await publishSome(100, 'wa.c.a2.chats');
        await waitFor(() => got.length >= 500, 10_000, 'every event');
        await sleep(200);
        assert.deepEqual(
          got.map((g) => g.seq),
          published,
        );
        assert.equal(resets.length, 1, `one catch-up after the reconnect: ${resets.join('; ')}`);
      } finally {
        await reader.stop();
        await nc.close();
        await nats.stop();
      }
    });
  });
