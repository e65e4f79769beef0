import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { systemClock, type Clock } from '../../domain/clock.js';
import { STREAM_SUBJECTS } from '../../domain/events.js';
import { natsFailure } from './failure.js';
import type { EventSink, EventStream, HistoryRead } from '../../domain/ports.js';
import { readHistory } from './history-read.js';
import { InterestReader } from './interest-reader.js';
import { OrderedReader } from './ordered-reader.js';
import { ensureStream, type Republishing } from './stream-setup.js';

export type ReadMode = 'interest' | 'stream';

export interface NatsStreamOptions {
  streamName: string;
  createStream: boolean;
  /** Replicas of the stream when this pod creates it (nats.stream_replicas). */
  replicas: number;
  podId: string;
  /** interest: subscribe to what the pod's sessions want (the stream's republish); stream: read all of `wa.>`. */
  readMode: ReadMode;
  /** The republish destination's prefix (`<prefix>.wa.>`). */
  republishPrefix: string;
  /** How long a subscription stays after its last session left (no churn on every reconnect). */
  lingerMs: number;
  /** Idle heartbeat of the pod's reader (stream reading). */
  heartbeatMs: number;
  clock?: Clock;
  /** How long the server keeps a reader's consumer nobody listens to (a killed pod's). */
  inactiveMs: number;
  /** Read on a connection of the reader's own (InboxWire) rather than the shared one. */
  ownConnection: boolean;
}

export interface NatsStreamEvents {
  reading(epoch: string, position: number, mode: ReadMode): void;
  /** Interest reading was asked for and cannot be had: the pod reads the whole stream, and says why once. */
  readingWholeStream(why: string): void;
  republishAdded(): void;
  readerReset(reason: string): void;
  epochChanged(epoch: string): void;
  readerFailed(err: unknown): void;
}

export const REQUEST_ID_HEADER = 'X-Request-ID';
/** A reader that has not managed to start over within this is reported on /ready. */
const READER_STUCK_MS = 2000;
/** How often interest reading looks at the stream (deleted, recreated): it has no consumer to tell it. */
const STREAM_CHECK_MS = 1000;
/** How long the publish API tries to get an event stored, and one try at most. */
const PUBLISH_DEADLINE_MS = 15_000;
const PUBLISH_TRY_MS = 2000;
/** How long a new session's handshake waits for its subscriptions to be in place (NATS away: it goes on). */
const PREPARE_MAX_MS = 2000;

/** The reader of either mode, as the stream uses it. */
interface PodReader {
  readonly epoch: string;
  readonly position: number;
  stop(): Promise<void>;
}

/** Either reader, with its mode. */
function podReader<K extends 'interest' | 'stream', R extends PodReader>(kind: K, r: R) {
  return {
    kind,
    r,
    get epoch() {
      return r.epoch;
    },
    get position() {
      return r.position;
    },
    stop: () => r.stop(),
  };
}

/**
 * The pod's own reading of the stream for its own sessions (docs/architecture.md, *How an event
 * travels*). With interest reading (the default) it subscribes to the stream's republished events of
 * the subjects its sessions want, and nothing else reaches it; where the stream does not republish
 * (NATS 2.9 and a stream made without it, or `nats.read_mode: stream`) one ephemeral ordered consumer
 * reads all of `wa.>`. Nothing is acknowledged and nothing is shared with other pods, so no pod
 * depends on another to deliver to its sessions.
 *
 * A replay that reaches further back than the pod's memory reads the history through a short-lived
 * pull consumer of its own (history-read.ts).
 */
export class NatsEventStream implements EventStream {
  private nc: NatsConnection | undefined;
  private sink: EventSink | undefined;
  private reader:
    | (PodReader & ({ kind: 'interest'; r: InterestReader } | { kind: 'stream'; r: OrderedReader }))
    | undefined;
  /** The epoch of the last reader, while a new one starts after it on a new connection. */
  private lastEpoch = '';
  /** Where the first stream reader started: it and its successors read everything after it. */
  private wholeStreamFrom: number | undefined;
  private said = false;
  /** The pod's interest: how many sessions want each pattern, and the timers of those nobody wants now. */
  private readonly interest = new Map<string, { refs: number; linger?: NodeJS.Timeout }>();
  private readerWaiters: Array<() => void> = [];

  constructor(
    private readonly options: NatsStreamOptions,
    private readonly events: NatsStreamEvents,
  ) {}

  async start(sink: EventSink): Promise<void> {
    this.sink = sink;
  }

  /**
   * Binds to a (new) connection: creates the stream when missing and starts reading, right after
   * where the previous connection's reader stopped.
   */
  async attach(nc: NatsConnection): Promise<void> {
    const previous = this.reader;
    this.reader = undefined;
    await previous?.stop().catch(() => undefined);
    this.nc = nc;
    const republishing = await this.ensureResources(nc);
    const start = previous ? { kind: 'seq' as const, seq: previous.position + 1 } : { kind: 'next' as const };
    if (republishing.ok) await this.readInterest(nc, start, previous?.epoch);
    else await this.readWholeStream(nc, start, previous?.epoch);
    const reader = this.reader!;
    this.lastEpoch = reader.epoch;
    this.events.reading(reader.epoch, reader.position, reader.kind);
    for (const wake of this.readerWaiters.splice(0)) wake();
  }

  /** Makes sure the stream is there (a server that lost its store needs it created again), republishing if asked. */
  async ensureResources(nc: NatsConnection): Promise<Republishing> {
    const jsm = await jetstreamManager(nc);
    const prefix = this.options.readMode === 'interest' ? this.options.republishPrefix : undefined;
    const republishing = await ensureStream(
      jsm,
      this.options.streamName,
      this.options.createStream,
      this.options.replicas,
      prefix,
    );
    if (republishing.ok && republishing.added) this.events.republishAdded();
    if (!republishing.ok && this.options.readMode === 'interest' && !this.said) {
      this.said = true;
      this.events.readingWholeStream(republishing.why);
    }
    return republishing;
  }

  private async readInterest(
    nc: NatsConnection,
    start: { kind: 'next' } | { kind: 'seq'; seq: number },
    epoch?: string,
  ): Promise<void> {
    const reader = new InterestReader(
      nc,
      {
        stream: this.options.streamName,
        prefix: this.options.republishPrefix,
        start,
        epoch,
        checkMs: STREAM_CHECK_MS,
        clock: this.options.clock,
        description: this.description(),
        ownConnection: this.options.ownConnection,
      },
      {
        event: (subject, data, seq) => this.sink?.deliver({ subject, data, seq }),
        startingAt: (seq) => this.sink?.startingAt(seq),
        lost: (subject, fromSeq) => this.sink?.lostInTransit(subject, fromSeq),
        reset: (reason) => this.events.readerReset(reason),
        epochChanged: (e) => {
          this.sink?.epochChanged();
          this.events.epochChanged(e);
        },
        missing: () => void this.ensureResources(nc).catch(() => undefined),
        failed: (err) => this.events.readerFailed(err),
      },
    );
    this.reader = podReader('interest', reader);
    await reader.start([...this.interest.keys()]);
  }

  private async readWholeStream(
    nc: NatsConnection,
    start: { kind: 'next' } | { kind: 'seq'; seq: number },
    epoch?: string,
  ): Promise<void> {
    const reader = new OrderedReader(
      nc,
      {
        stream: this.options.streamName,
        filter: STREAM_SUBJECTS,
        start,
        epoch,
        heartbeatMs: this.options.heartbeatMs,
        clock: this.options.clock,
        inactiveMs: this.options.inactiveMs,
        description: this.description(),
        ownConnection: this.options.ownConnection,
      },
      {
        event: (subject, data, seq) => this.sink?.deliver({ subject, data, seq }),
        reset: (reason) => this.events.readerReset(reason),
        epochChanged: (e) => {
          this.wholeStreamFrom = 0;
          this.sink?.epochChanged();
          this.events.epochChanged(e);
        },
        failed: (err) => {
          this.events.readerFailed(err);
          // A stream deleted under a running pod is created again (nats.create_stream) before the next try.
          void this.ensureResources(nc).catch(() => undefined);
        },
      },
    );
    await reader.start();
    this.wholeStreamFrom ??= reader.position;
    this.sink?.startingAt(reader.position);
    this.reader = podReader('stream', reader);
  }

  want(pattern: string): void {
    const entry = this.interest.get(pattern);
    if (entry) {
      entry.refs++;
      clearTimeout(entry.linger);
      entry.linger = undefined;
      return;
    }
    this.interest.set(pattern, { refs: 1 });
    if (this.reader?.kind === 'interest') this.reader.r.add(pattern);
  }

  unwant(pattern: string): void {
    const entry = this.interest.get(pattern);
    if (!entry || --entry.refs > 0) return;
    entry.linger = setTimeout(() => {
      if (entry.refs > 0) return;
      this.interest.delete(pattern);
      if (this.reader?.kind === 'interest') this.reader.r.drop(pattern);
    }, this.options.lingerMs);
    entry.linger.unref();
  }

  /**
   * Before a new session's `ready`: its subscriptions are in place (NATS sends the pod every event
   * stored from now on), so that it gets every event published after `ready`.
   */
  async prepare(patterns: readonly string[]): Promise<void> {
    if (this.reader?.kind !== 'interest') return;
    // Held by a session and measured: in place, and it stays while that session does (the common handshake).
    if (patterns.every((p) => (this.interest.get(p)?.refs ?? 0) > 0 && this.liveFrom(p) !== undefined)) return;
    for (const p of patterns) this.want(p);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, PREPARE_MAX_MS);
    });
    try {
      await Promise.race([Promise.all(patterns.map((p) => this.whenLive(p).catch(() => 0))), late]);
    } finally {
      clearTimeout(timer);
      for (const p of patterns) this.unwant(p); // it lingers: the session's registration wants it again
    }
  }

  head(): number {
    const reader = this.reader;
    if (!reader) return 0;
    return reader.kind === 'interest' ? reader.r.head : reader.position;
  }

  liveFrom(pattern: string): number | undefined {
    const reader = this.reader;
    if (!reader) return undefined;
    return reader.kind === 'interest' ? reader.r.liveFrom(pattern) : this.wholeStreamFrom;
  }

  async whenLive(pattern: string): Promise<number> {
    while (!this.reader) await new Promise<void>((resolve) => this.readerWaiters.push(resolve));
    const reader = this.reader;
    if (reader.kind === 'stream') return this.wholeStreamFrom ?? 0;
    return reader.r.whenLive(pattern);
  }

  epoch(): string {
    return this.reader?.epoch ?? this.lastEpoch;
  }

  /** False when the pod's reader is missing or has been failing to start over for a while. */
  reading(): boolean {
    const reader = this.reader;
    if (!reader) return false;
    const since = reader.r.restartingSince;
    return since === undefined || (this.options.clock ?? systemClock)() - since < READER_STUCK_MS;
  }

  /** How the pod reads now: its interest, or the whole stream. */
  readMode(): ReadMode | undefined {
    return this.reader?.kind;
  }

  async bounds(): Promise<{ first: number; last: number }> {
    try {
      const info = await (await jetstreamManager(this.connected())).streams.info(this.options.streamName);
      return { first: info.state.first_seq, last: info.state.last_seq };
    } catch (err) {
      throw natsFailure('reading the stream bounds', err);
    }
  }

  async readHistory(read: HistoryRead): Promise<'done' | 'too_long'> {
    try {
      return await readHistory(this.connected(), this.options.streamName, read, `${this.description()} replay`);
    } catch (err) {
      throw natsFailure('reading the stream history', err);
    }
  }

  private connected(): NatsConnection {
    if (!this.nc) throw new Error('not connected to NATS');
    return this.nc;
  }

  /**
   * Publishes until JetStream confirms, for PUBLISH_DEADLINE_MS: a leader election on a cluster answers
   * "no responders" or nothing for a few seconds. The request id is the Nats-Msg-Id, so a try whose
   * acknowledgement was lost is stored once (and so is a client's retry with the same X-Request-ID,
   * within the stream's duplicate window).
   */
  async publish(subject: string, data: Uint8Array, requestId?: string): Promise<{ seq: number }> {
    const h = natsHeaders();
    if (requestId) h.set(REQUEST_ID_HEADER, requestId);
    const deadline = Date.now() + PUBLISH_DEADLINE_MS;
    for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
      try {
        const timeout = Math.max(500, Math.min(PUBLISH_TRY_MS, deadline - Date.now()));
        const ack = await jetstream(this.connected()).publish(subject, data, {
          headers: h,
          timeout,
          ...(requestId ? { msgID: `api:${requestId}` } : {}),
        });
        return { seq: ack.seq };
      } catch (err) {
        if (Date.now() + wait >= deadline) throw natsFailure('publishing', err);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Consumers this pod holds on the stream server: one reading the stream, none with interest reading. */
  consumerCount(): number {
    return this.reader?.kind === 'interest' ? 0 : 1;
  }

  async stop(): Promise<void> {
    const reader = this.reader;
    this.reader = undefined;
    for (const entry of this.interest.values()) clearTimeout(entry.linger);
    await reader?.stop().catch(() => undefined);
  }

  private description(): string {
    return `daisi-ws pod ${this.options.podId}`;
  }
}
