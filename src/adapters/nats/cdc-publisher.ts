import {
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import {
  createInbox,
  headers as natsHeaders,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { DependencyError } from '../../domain/errors.js';
import type { CdcChange, CdcCheckpoint, CdcPublisher, CdcRecovery } from '../../domain/ports.js';
import { ensureStream } from './stream-setup.js';

/** Headers every change published by the bridge carries: which slot, and its position there. */
export const CDC_SLOT_HEADER = 'Dws-Cdc-Slot';
export const CDC_LSN_HEADER = 'Dws-Cdc-Lsn';
export const CDC_INDEX_HEADER = 'Dws-Cdc-Index';
/** JetStream's "wrong last msg ID": another producer published between two changes of the bridge. */
const WRONG_LAST_MSG_ID = 10070;
const MSG_ID_HEADER = 'Nats-Msg-Id';
const EXPECTED_LAST_MSG_ID_HEADER = 'Nats-Expected-Last-Msg-Id';
/** A change JetStream has not acknowledged within this is a failure (the bridge recovers and reads again). */
const ACK_TIMEOUT_MS = 5000;
const STREAM_NOT_FOUND = 10059;
const SCAN_BATCH = 500;
/** The checkpoint stream's subjects: `dws.cdc.<slot>`. */
const CHECKPOINT_PREFIX = 'dws.cdc';

export interface CdcPublisherOptions {
  /** The stream of `wa.>` (nats.stream_name). */
  stream: string;
  /** The bridge's own stream of checkpoints, one message per slot (`dws.cdc.<slot>`). */
  checkpointStream: string;
  replicas: number;
  /** nats.create_stream, and the republish the pods read by (undefined: nats.read_mode stream). */
  createStream: boolean;
  republishPrefix: string | undefined;
}

/**
 * The CDC bridge's side of JetStream (docs/architecture.md, *The front of the pipeline*). Each change
 * is published with its id as `Nats-Msg-Id` (JetStream drops a repeat within its duplicate window)
 * and the previous change's id as `Nats-Expected-Last-Msg-Id`, so that a change refused (a leader
 * election, a full stream) refuses the ones sent after it too: the stream never holds a later change
 * of the bridge before an earlier one. The bridge's position survives any downtime in a checkpoint
 * stream of its own and in the changes' headers (recover()).
 */
export class NatsCdcPublisher implements CdcPublisher {
  private previousId: string | undefined;
  private acks: AckInbox | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: CdcPublisherOptions,
  ) {}

  async prepare(): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    // The bridge may come up before any pod: the stream is made as a pod would make it.
    await ensureStream(
      jsm,
      this.options.stream,
      this.options.createStream,
      this.options.replicas,
      this.options.republishPrefix,
    );
    try {
      await jsm.streams.info(this.options.checkpointStream);
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NOT_FOUND) throw err;
      await jsm.streams
        .add({
          name: this.options.checkpointStream,
          subjects: [`${CHECKPOINT_PREFIX}.>`],
          retention: RetentionPolicy.Limits,
          max_msgs_per_subject: 1,
          discard: DiscardPolicy.Old,
          storage: StorageType.File,
          num_replicas: this.options.replicas,
        })
        .catch((e: unknown) => {
          // Created meanwhile by another bridge.
          if (!(e instanceof JetStreamApiError) || !/already in use/i.test(e.message)) throw e;
        });
    }
  }

  async recover(slot: string): Promise<CdcRecovery> {
    this.previousId = undefined;
    // What was in flight has failed or been answered by now (the bridge settles before it recovers).
    this.acks?.close();
    this.acks = undefined;
    const jsm = await jetstreamManager(this.nc);
    let checkpoint: CdcCheckpoint | undefined;
    const stored = await jsm.streams
      .getMessage(this.options.checkpointStream, { last_by_subj: this.checkpointSubject(slot) })
      .catch(() => null);
    if (stored) checkpoint = stored.json<CdcCheckpoint>();
    const info = await jsm.streams.info(this.options.stream);
    const from = Math.max(checkpoint?.seq ?? 0, info.state.first_seq - 1) + 1;
    const published = new Map<string, number>();
    let lastSeq = checkpoint?.seq ?? 0;
    if (from <= info.state.last_seq) {
      const js = jetstream(this.nc);
      const consumer = await js.consumers.get(this.options.stream, {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: from,
        headers_only: true,
      });
      let seq = from - 1;
      while (seq < info.state.last_seq) {
        const batch = await consumer.fetch({ max_messages: SCAN_BATCH, expires: 2000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          seq = m.seq;
          const h = m.headers;
          if (h?.get(CDC_SLOT_HEADER) !== slot) continue;
          const lsn = h.get(CDC_LSN_HEADER);
          const index = Number(h.get(CDC_INDEX_HEADER));
          published.set(lsn, Math.max(published.get(lsn) ?? -1, index));
          lastSeq = m.seq;
          if (seq >= info.state.last_seq) break;
        }
        if (got === 0) break;
      }
    }
    return { checkpoint, published, lastSeq };
  }

  /**
   * Resolves with the stream sequence once JetStream stored the change. A plain publish with a reply subject of
   * the publisher's one ack inbox, not a nats.js request: a request per change cost an Error (for its stack), a
   * timer, a JetStream client and a promise chain of its own, and the bridge's CPU per change with it
   * (BENCHMARKS.md, *CDC*).
   */
  publish(change: CdcChange): Promise<number> {
    const h = natsHeaders();
    h.set(CDC_SLOT_HEADER, change.slot);
    h.set(CDC_LSN_HEADER, change.commitLsn);
    h.set(CDC_INDEX_HEADER, String(change.index));
    h.set(MSG_ID_HEADER, change.id);
    if (this.previousId) h.set(EXPECTED_LAST_MSG_ID_HEADER, this.previousId);
    this.previousId = change.id;
    this.acks ??= new AckInbox(this.nc, ACK_TIMEOUT_MS);
    const { reply, acked } = this.acks.expect();
    try {
      this.nc.publish(change.subject, change.data, { headers: h, reply });
    } catch (err) {
      this.acks.cancel(reply, err);
    }
    return acked.catch((err: unknown) => {
      // The chain starts again after the bridge has looked at what the stream holds (recover()).
      this.previousId = undefined;
      throw err;
    });
  }

  async checkpoint(slot: string, checkpoint: CdcCheckpoint): Promise<void> {
    await jetstream(this.nc).publish(this.checkpointSubject(slot), JSON.stringify(checkpoint), { timeout: 5000 });
  }

  private checkpointSubject(slot: string): string {
    return `${CHECKPOINT_PREFIX}.${slot}`;
  }
}

interface Waiter {
  resolve(seq: number): void;
  reject(err: unknown): void;
  /** When the change was sent (ms). */
  at: number;
}

/**
 * One subscription for every acknowledgement of the publisher's changes: `<inbox>.<n>`, the n-th change. Waiters
 * are kept in the order sent, so a look every half second at the oldest finds the ones past the timeout.
 */
class AckInbox {
  private readonly prefix = createInbox();
  private readonly waiting = new Map<string, Waiter>();
  private next = 0;
  private readonly sub: Subscription;
  private readonly timer: NodeJS.Timeout;

  constructor(
    nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => (err ? this.failAll(err) : this.answer(msg)),
    });
    this.timer = setInterval(() => this.expire(), 500);
    this.timer.unref();
  }

  expect(): { reply: string; acked: Promise<number> } {
    const reply = `${this.prefix}.${this.next++}`;
    const acked = new Promise<number>((resolve, reject) =>
      this.waiting.set(reply, { resolve, reject, at: performance.now() }),
    );
    return { reply, acked };
  }

  cancel(reply: string, err: unknown): void {
    const waiter = this.waiting.get(reply);
    this.waiting.delete(reply);
    waiter?.reject(new DependencyError('nats', 'publishing a change', { cause: err }));
  }

  close(): void {
    clearInterval(this.timer);
    this.sub.unsubscribe();
    this.failAll(new Error('the publisher started over'));
  }

  private answer(msg: Msg): void {
    const waiter = this.waiting.get(msg.subject);
    if (!waiter) return; // after its timeout
    this.waiting.delete(msg.subject);
    const outcome = ackOf(msg);
    if (typeof outcome === 'number') waiter.resolve(outcome);
    else waiter.reject(outcome);
  }

  private expire(): void {
    const late = performance.now() - this.timeoutMs;
    for (const [reply, waiter] of this.waiting) {
      if (waiter.at > late) break; // sent in order: the rest are younger
      this.cancel(reply, new Error(`no acknowledgement within ${this.timeoutMs} ms`));
    }
  }

  private failAll(err: unknown): void {
    for (const reply of [...this.waiting.keys()]) this.cancel(reply, err);
  }
}

/** A PubAck's stream sequence, or why the change was not stored. */
function ackOf(msg: Msg): number | Error {
  // No responders (a 503 status): no stream takes wa.* — it was deleted, or is being recreated.
  if (msg.headers?.code === 503)
    return new DependencyError('nats', 'publishing a change', { cause: new Error('no stream takes the subject') });
  let ack: { seq?: number; error?: { err_code?: number; description?: string } };
  try {
    ack = msg.json();
  } catch (err) {
    return new DependencyError('nats', 'publishing a change', { cause: err });
  }
  if (!ack.error) {
    if (typeof ack.seq === 'number' && ack.seq > 0) return ack.seq;
    // Not JetStream's answer (something else subscribed to the subject replied): the change is not known stored.
    return new DependencyError('nats', 'publishing a change', {
      cause: new Error('an answer without a stream sequence'),
    });
  }
  const cause = new Error(`JetStream refused the change: ${ack.error.description} (${ack.error.err_code})`);
  return ack.error.err_code === WRONG_LAST_MSG_ID
    ? new Error('another producer published between two changes', { cause })
    : new DependencyError('nats', 'publishing a change', { cause });
}
