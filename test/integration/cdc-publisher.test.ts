import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { after, before, describe, it } from 'node:test';
import { NatsCdcPublisher } from '../../src/adapters/nats/cdc-publisher.js';
import { DependencyError } from '../../src/domain/errors.js';
import type { CdcChange } from '../../src/domain/ports.js';
import { uid } from '../helpers/env.js';

// The bridge's publisher against the real nats-server: acknowledgements on its one inbox, the chain of
// expected last message ids, and what a refusal arrives as.
describe('the CDC publisher on JetStream', () => {
  let nc: NatsConnection;
  const stream = uid('cdcpub_');
  const company = uid('c');
  let publisher: NatsCdcPublisher;
  const change = (index: number, subject = `wa.${company}.a.chats`): CdcChange => ({
    subject,
    data: Buffer.from(JSON.stringify({ event_id: `x:${index}` })),
    id: `slot:0/1:${index}`,
    slot: 'slot',
    commitLsn: '0/1',
    index,
  });

  before(async () => {
    nc = await connect({ servers: '127.0.0.1:4222' });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`wa.${company}.>`] });
    publisher = new NatsCdcPublisher(nc, {
      stream,
      checkpointStream: `${stream}_cp`,
      replicas: 1,
      createStream: false,
      republishPrefix: undefined,
    });
    await publisher.prepare();
    await publisher.recover('slot');
  });

  after(async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => undefined);
    await jsm.streams.delete(`${stream}_cp`).catch(() => undefined);
    await nc.close();
  });

  it('resolves each change with its stream sequence, in order, many in flight at once', async () => {
    const seqs = await Promise.all(Array.from({ length: 300 }, (_, i) => publisher.publish(change(i))));
    assert.deepEqual(
      seqs,
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
  });

  it('a change after another producer wrote to the stream is refused, and the chain starts again', async () => {
    await nc.publish(`wa.${company}.a.chats`, '{"event_id":"other"}');
    await nc.flush();
    const err = await publisher.publish(change(300)).catch((e: unknown) => e);
    assert.match(String((err as Error).message), /another producer/);
    assert.match(String(((err as Error).cause as Error).message), /10070/);
    // After recovery the next change has no expectation: it is stored.
    await publisher.recover('slot');
    assert.equal(await publisher.publish(change(301)), 302);
  });

  it('a subject no stream takes is a DependencyError (no responders), not a hang', async () => {
    const err = await publisher.publish(change(0, `wa.${uid('nobody')}.a.chats`)).catch((e: unknown) => e);
    assert.ok(err instanceof DependencyError, String(err));
    assert.deepEqual([err.dependency, err.httpStatus], ['nats', 503]);
    assert.match(String((err.cause as Error).message), /no stream/);
  });

  it('an answer that is not a PubAck (another subscriber of the subject replied) is a DependencyError, not stored', async () => {
    const subject = uid('rogue.'); // no stream takes it: the only answer is the rogue's
    const rogue = nc.subscribe(subject, { callback: (_err, msg) => void msg.respond('{}') });
    await nc.flush();
    try {
      const err = await publisher.publish(change(0, subject)).catch((e: unknown) => e);
      assert.ok(err instanceof DependencyError, String(err));
      assert.match(String((err.cause as Error).message), /without a stream sequence/);
    } finally {
      rogue.unsubscribe();
    }
  });
});
