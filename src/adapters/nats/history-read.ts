import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { HistoryRead } from '../../domain/ports.js';

/** Events asked for at once: the server never sends a replay more than this ahead of the client. */
const BATCH = 32;
/** How long one fetch waits for its batch (the server's minimum is 1 s). */
const FETCH_EXPIRES_MS = 2000;
/** A consumer nobody fetches from any more (its pod died) goes away after this. */
const INACTIVE_MS = 5000;
/** A read that lost events in transit (a reconnect) starts again after the last one it had, this often at most. */
const MAX_RESTARTS = 3;

class Gap extends Error {}

/**
 * A replay's read of the stream: an ephemeral pull consumer from `fromSeq`, asked for BATCH events
 * at a time and only once the previous batch went to the client (`onEvent` holds the reading while
 * the client's socket is full). Unlike a push consumer, it cannot flood the pod's connection: a
 * reconnect storm of replays never gets the pod cut off as a slow consumer. Events come in stream
 * order; a delivery sequence that skips (events lost in transit) starts a new consumer after the
 * last event read, so nothing is skipped and nothing is repeated. `requestTimeoutMs` bounds the
 * consumer's creation (nats.js's 5 s by default).
 */
export async function readHistory(
  nc: NatsConnection,
  stream: string,
  read: HistoryRead,
  description: string,
  requestTimeoutMs?: number,
): Promise<'done' | 'too_long'> {
  if (read.fromSeq > read.toSeq) return 'done';
  const jsm = await jetstreamManager(nc, requestTimeoutMs ? { timeout: requestTimeoutMs } : {});
  const js = jetstream(nc);
  const position = { next: read.fromSeq };
  for (let restart = 0; ; restart++) {
    const info = await jsm.consumers.add(stream, {
      description,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: position.next,
      filter_subject: read.filter,
      inactive_threshold: nanos(INACTIVE_MS),
      mem_storage: true,
      num_replicas: 1,
    });
    try {
      if (restart === 0 && info.num_pending > read.maxEvents) return 'too_long';
      return await readBatches(js.consumers.getConsumerFromInfo(info), info.num_pending, read, position);
    } catch (err) {
      if (!(err instanceof Gap) || restart >= MAX_RESTARTS) throw err;
    } finally {
      void jsm.consumers.delete(stream, info.name).catch(() => undefined);
    }
  }
}

type PullConsumer = ReturnType<ReturnType<typeof jetstream>['consumers']['getConsumerFromInfo']>;

async function readBatches(
  consumer: PullConsumer,
  pending: number,
  read: HistoryRead,
  position: { next: number },
): Promise<'done'> {
  let delivered = 0;
  while (pending > 0 && !read.signal.aborted) {
    const batch = await consumer.fetch({ max_messages: Math.min(BATCH, pending), expires: FETCH_EXPIRES_MS });
    let got = 0;
    try {
      for await (const m of batch) {
        got++;
        pending--;
        if (m.info.deliverySequence !== delivered + 1) throw new Gap();
        delivered = m.info.deliverySequence;
        if (await handOn(m, read, position)) return 'done';
      }
    } finally {
      if (pending > 0 || got === 0) void batch.close();
    }
    if (got === 0) return 'done'; // fewer were left than counted (retention removed some)
  }
  return 'done';
}

/** One event to the replay; true when the read is over (past `toSeq`, or stopped). */
async function handOn(m: JsMsg, read: HistoryRead, position: { next: number }): Promise<boolean> {
  if (m.seq > read.toSeq) return true;
  const wait = read.onEvent({ subject: m.subject, data: m.data, seq: m.seq });
  if (wait) await wait;
  position.next = m.seq + 1;
  return m.seq >= read.toSeq || read.signal.aborted;
}
