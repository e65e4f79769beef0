import { JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import { STREAM_SUBJECTS } from '../../domain/events.js';

const STREAM_NOT_FOUND = 10059;

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
