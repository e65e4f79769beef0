import {
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import type { CdcChange, CdcCheckpoint, CdcPublisher, CdcRecovery } from '../../domain/ports.js';
import { ensureStream } from './stream-setup.js';

/** Headers every change published by the bridge carries: which slot, and its position there. */
export const CDC_SLOT_HEADER = 'Dws-Cdc-Slot';
export const CDC_LSN_HEADER = 'Dws-Cdc-Lsn';
export const CDC_INDEX_HEADER = 'Dws-Cdc-Index';
/** JetStream's "wrong last msg ID": another producer published between two changes of the bridge. */
const WRONG_LAST_MSG_ID = 10070;
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

  async publish(change: CdcChange): Promise<number> {
    const h = natsHeaders();
    h.set(CDC_SLOT_HEADER, change.slot);
    h.set(CDC_LSN_HEADER, change.commitLsn);
    h.set(CDC_INDEX_HEADER, String(change.index));
    const expect = this.previousId ? { lastMsgID: this.previousId } : undefined;
    this.previousId = change.id;
    try {
      const ack = await jetstream(this.nc).publish(change.subject, change.data, {
        msgID: change.id,
        headers: h,
        expect,
        timeout: 5000,
      });
      return ack.seq;
    } catch (err) {
      // The chain starts again after the bridge has looked at what the stream holds (recover()).
      this.previousId = undefined;
      if (err instanceof JetStreamApiError && err.code === WRONG_LAST_MSG_ID)
        throw new Error('another producer published between two changes', { cause: err });
      throw err;
    }
  }

  async checkpoint(slot: string, checkpoint: CdcCheckpoint): Promise<void> {
    await jetstream(this.nc).publish(this.checkpointSubject(slot), JSON.stringify(checkpoint), { timeout: 5000 });
  }

  private checkpointSubject(slot: string): string {
    return `${CHECKPOINT_PREFIX}.${slot}`;
  }
}
