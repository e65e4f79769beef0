import { JetStreamApiError, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { STREAM_SUBJECTS } from '../../domain/events.js';

const STREAM_NOT_FOUND = 10059;

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

/** What the stream does for interest reading: republish what it stores, or not (and why not). */
export type Republishing = { ok: true; added: boolean } | { ok: false; why: string };

/**
 * Creates the stream with subjects `wa.>` when it does not exist — with `republish` to `<prefix>.wa.>`
 * when `prefix` is given (interest reading) — and adds a missing republish to an existing stream
 * where the server allows it (NATS ≥ 2.10; 2.9 refuses: "stream configuration update can not change
 * RePublish"). `replicas` (nats.stream_replicas) applies to a stream made here; an existing stream
 * keeps its own (an operator scales it with `nats stream edit --replicas`).
 */
export async function ensureStream(
  jsm: JetStreamManager,
  name: string,
  create: boolean,
  replicas: number,
  prefix?: string,
): Promise<Republishing> {
  const republish = prefix ? { src: STREAM_SUBJECTS, dest: `${prefix}.${STREAM_SUBJECTS}` } : undefined;
  let config: StreamConfig;
  try {
    config = (await jsm.streams.info(name)).config;
  } catch (err) {
    if (!isApiError(err, STREAM_NOT_FOUND)) throw err;
    if (!create) throw new Error(`stream ${name} does not exist and nats.create_stream is false`, { cause: err });
    await jsm.streams.add({
      name,
      subjects: [STREAM_SUBJECTS],
      num_replicas: replicas,
      ...(republish ? { republish } : {}),
    });
    return republish ? { ok: true, added: true } : { ok: false, why: 'nats.read_mode is stream' };
  }
  if (!republish) return { ok: false, why: 'nats.read_mode is stream' };
  const current = config.republish;
  if (current?.src === republish.src && current.dest === republish.dest && !current.headers_only)
    return { ok: true, added: false };
  if (current)
    return { ok: false, why: `the stream republishes ${current.src} to ${current.dest}, not to ${republish.dest}` };
  try {
    await jsm.streams.update(name, { ...config, republish });
    return { ok: true, added: true };
  } catch (err) {
    return { ok: false, why: `the server does not add a republish to an existing stream (${(err as Error).message})` };
  }
}
