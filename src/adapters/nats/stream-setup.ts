import { AckPolicy, DeliverPolicy, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { STREAM_SUBJECTS } from '../../domain/events.js';

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

/** Creates the stream with subjects `wa.>` when it does not exist; an existing one is left as is. */
export async function ensureStream(jsm: JetStreamManager, name: string, create: boolean): Promise<void> {
  try {
    await jsm.streams.info(name);
  } catch (err) {
    if (!isApiError(err, STREAM_NOT_FOUND)) throw err;
    if (!create) throw new Error(`stream ${name} does not exist and nats.create_stream is false`, { cause: err });
    await jsm.streams.add({ name, subjects: [STREAM_SUBJECTS] });
  }
}

export interface DurableSpec {
  durable: string;
  filterSubject: string;
  ackWaitSeconds: number;
  maxAckPending: number;
  maxDeliver: number;
}

/**
 * A durable pull consumer shared by the fleet. Delivery starts with events published after it
 * is first created: a new gateway must not replay the stream's history to live sessions.
 */
export async function ensureDurable(jsm: JetStreamManager, stream: string, spec: DurableSpec): Promise<void> {
  try {
    await jsm.consumers.info(stream, spec.durable);
    return;
  } catch (err) {
    if (!isApiError(err, CONSUMER_NOT_FOUND)) throw err;
  }
  await jsm.consumers.add(stream, {
    durable_name: spec.durable,
    filter_subject: spec.filterSubject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: nanos(spec.ackWaitSeconds * 1000),
    max_ack_pending: spec.maxAckPending,
    max_deliver: spec.maxDeliver,
  });
}
