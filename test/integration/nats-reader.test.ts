import assert from 'node:assert/strict';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { after, before, describe, it } from 'node:test';
import { NatsEventStream } from '../../src/adapters/nats/nats-event-stream.js';
import { OrderedReader } from '../../src/adapters/nats/ordered-reader.js';
import { TestNatsServer } from '../../support/nats-server.js';
import { waitFor } from '../helpers/wait.js';

// The pod's reader against a real nats-server: on its own connection (InboxWire) and through the
// client library, the same events in the same order with the same bytes — stored ones (read fast
// enough for the server to ask for flow control) and live ones, with and without headers, one
// larger than a socket read.

const STREAM = 'reader_test';

interface Read {
  subject: string;
  seq: number;
  body: string;
}

function startReader(nc: NatsConnection, ownConnection: boolean, reads: Read[], startSeq = 1): Promise<OrderedReader> {
  const resets: string[] = [];
  const reader = new OrderedReader(
    nc,
    {
      stream: STREAM,
      filter: 'wa.>',
      start: { kind: 'seq', seq: startSeq },
      heartbeatMs: 1000,
      inactiveMs: 10_000,
      description: `test ${ownConnection}`,
      ownConnection,
    },
    {
      event: (subject, data, seq) => void reads.push({ subject, seq, body: Buffer.from(data).toString() }),
      reset: (why) => void resets.push(why),
      epochChanged: () => undefined,
      failed: () => undefined,
    },
  );
  return reader.start().then(() => reader);
}

async function publish(nc: NatsConnection, from: number, count: number): Promise<string[]> {
  const js = jetstream(nc);
  const bodies: string[] = [];
  const pending: Array<Promise<unknown>> = [];
  for (let i = from; i < from + count; i++) {
    // Every 7th with headers (HMSG), one of 300 KB, the rest ~250 bytes with a nested object.
    const text = i === from + 11 ? 'L'.repeat(300_000) : 'x'.repeat(150);
    const body = `{"event_id":"e-${i}","extra":{"n":${i}},"row_data":{"text":"${text}"}}`;
    bodies.push(body);
    const h = i % 7 === 0 ? headers() : undefined;
    h?.set('X-Request-ID', `r-${i}`);
    pending.push(
      js.publish(
        i % 2 ? `wa.c.a${i % 10}.chats` : `wa.c.a${i % 10}.messages.k${i % 3}`,
        body,
        h ? { headers: h } : undefined,
      ),
    );
    if (pending.length > 500) await pending.shift();
  }
  await Promise.all(pending);
  return bodies;
}

describe('the stream reader on its own connection and through the client library', { timeout: 120_000 }, () => {
  let nats: TestNatsServer;
  let nc: NatsConnection;
  const readers: OrderedReader[] = [];

  before(async () => {
    nats = await TestNatsServer.start();
    nc = await connect({ servers: nats.url });
    await (await jetstreamManager(nc)).streams.add({ name: STREAM, subjects: ['wa.>'] });
  });
  after(async () => {
    await Promise.all(readers.map((r) => r.stop()));
    await nc.close();
    await nats.stop();
  });

  it('reads 3,000 stored and 2,000 live events exactly once, in order, byte for byte, both ways', async () => {
    const stored = await publish(nc, 0, 3000);
    const own: Read[] = [];
    const shared: Read[] = [];
    readers.push(await startReader(nc, true, own), await startReader(nc, false, shared));
    const live = await publish(nc, 3000, 2000);
    const all = [...stored, ...live];
    await waitFor(() => own.length >= all.length && shared.length >= all.length, 60_000, 'every event on both readers');
    assert.equal(own.length, all.length, 'nothing twice');
    assert.deepEqual(
      own.map((r) => r.seq),
      all.map((_, i) => i + 1),
      'stream order, no gap',
    );
    assert.deepEqual(
      own.map((r) => r.body),
      all,
      "the producer's bytes",
    );
    assert.deepEqual(own, shared, 'the same reading either way');
  });
});

for (const readMode of ['interest', 'stream'] as const) {
  describe(`the pod's stream when its NATS connection is replaced (${readMode} reading)`, { timeout: 60_000 }, () => {
    it('keeps its epoch while the reader starts again on a new connection, and reads on from its position', async () => {
      const nats = await TestNatsServer.start();
      const first = await connect({ servers: nats.url });
      const second = await connect({ servers: nats.url });
      const seqs: number[] = [];
      const modes: string[] = [];
      const stream = new NatsEventStream(
        {
          streamName: 'replaced_test',
          createStream: true,
          replicas: 1,
          podId: 'p',
          readMode,
          republishPrefix: 'dws',
          lingerMs: 1000,
          heartbeatMs: 1000,
          inactiveMs: 5000,
          ownConnection: true,
        },
        {
          reading: (_epoch, _position, mode) => void modes.push(mode),
          readingWholeStream: () => undefined,
          republishAdded: () => undefined,
          readerReset: () => undefined,
          epochChanged: () => undefined,
          readerFailed: () => undefined,
        },
      );
      try {
        stream.want('wa.>');
        await stream.start({
          deliver: (e) => void seqs.push(e.seq),
          startingAt: () => undefined,
          lostInTransit: () => undefined,
          epochChanged: () => assert.fail('the stream was not recreated: the sink keeps its place'),
        });
        await stream.attach(first);
        await stream.whenLive('wa.>');
        const epoch = stream.epoch();
        assert.match(epoch, /^[\w-]{12}$/);
        await publish(first, 0, 3);
        await waitFor(() => seqs.length >= 3, 10_000, 'three events on the first connection');
        // A pod whose client gave up reconnecting dials anew and attaches again (NatsSupervisor):
        // sessions that open meanwhile are greeted with this epoch, not with none. What is published
        // in between is read on the new connection.
        await publish(first, 3, 2);
        const attaching = stream.attach(second);
        assert.equal(stream.epoch(), epoch, 'while the new reader starts');
        await attaching;
        assert.equal(stream.epoch(), epoch);
        await publish(second, 5, 2);
        await waitFor(() => seqs.length >= 7, 10_000, 'the rest on the second connection');
        await new Promise((r) => setTimeout(r, 200));
        assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7]);
        assert.deepEqual(modes, [readMode, readMode]);
      } finally {
        await stream.stop();
        await first.close();
        await second.close();
        await nats.stop();
      }
    });
  });
}

describe('a server that requires credentials', { timeout: 60_000 }, () => {
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let reader: OrderedReader | undefined;

  before(async () => {
    nats = await TestNatsServer.start(['--user', 'dws', '--pass', 'secret']);
    nc = await connect({ servers: nats.url, user: 'dws', pass: 'secret' });
    await (await jetstreamManager(nc)).streams.add({ name: STREAM, subjects: ['wa.>'] });
  });
  after(async () => {
    await reader?.stop();
    await nc.close();
    await nats.stop();
  });

  it("is read through the client library's connection (the reader's own cannot log in)", async () => {
    const reads: Read[] = [];
    reader = await startReader(nc, true, reads);
    const bodies = await publish(nc, 0, 200);
    await waitFor(() => reads.length >= bodies.length, 20_000, 'every event');
    assert.deepEqual(
      reads.map((r) => r.body),
      bodies,
    );
  });
});
