import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { STREAM_SUBJECTS } from '../../domain/events.js';
import type { EventSink, EventStream, HistoryRead } from '../../domain/ports.js';
import { systemClock, type Clock } from '../../domain/clock.js';
import { readHistory } from './history-read.js';
import { OrderedReader } from './ordered-reader.js';
import { ensureStream } from './stream-setup.js';

export interface NatsStreamOptions {
  streamName: string;
  createStream: boolean;
  podId: string;
  /** Idle heartbeat of the pod's reader. */
  heartbeatMs: number;
  clock?: Clock;
  /** How long the server keeps a reader's consumer nobody listens to (a killed pod's). */
  inactiveMs: number;
  /** Read on a connection of the reader's own (InboxWire) rather than the shared one. */
  ownConnection: boolean;
}

export interface NatsStreamEvents {
  reading(epoch: string, position: number): void;
  readerReset(reason: string): void;
  epochChanged(epoch: string): void;
  readerFailed(err: unknown): void;
}

export const REQUEST_ID_HEADER = 'X-Request-ID';
/** A reader that has not managed to start over within this is reported on /ready. */
const READER_STUCK_MS = 2000;

/**
 * The pod's own ordered reading of the whole stream (`wa.>`), for its own sessions: one
 * ephemeral consumer per pod, whatever its load (docs/architecture.md, *How an event travels*). Nothing is acknowledged
 * and nothing is shared with other pods, so no pod depends on another to deliver to its sessions.
 *
 * A replay that reaches further back than the pod's memory reads the history through a
 * short-lived pull consumer of its own (history-read.ts).
 */
export class NatsEventStream implements EventStream {
  private nc: NatsConnection | undefined;
  private sink: EventSink | undefined;
  private reader: OrderedReader | undefined;
  /** The epoch of the last reader, while a new one starts after it on a new connection. */
  private lastEpoch = '';

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
    await this.ensureResources(nc);
    const reader = new OrderedReader(
      nc,
      {
        stream: this.options.streamName,
        filter: STREAM_SUBJECTS,
        start: previous ? { kind: 'seq', seq: previous.position + 1 } : { kind: 'next' },
        epoch: previous?.epoch,
        heartbeatMs: this.options.heartbeatMs,
        clock: this.options.clock,
        inactiveMs: this.options.inactiveMs,
        description: `daisi-ws pod ${this.options.podId}`,
        ownConnection: this.options.ownConnection,
      },
      {
        event: (subject, data, seq) => void this.sink?.deliver({ subject, data, seq }),
        reset: (reason) => this.events.readerReset(reason),
        epochChanged: (epoch) => this.events.epochChanged(epoch),
        failed: (err) => {
          this.events.readerFailed(err);
          // A stream deleted under a running pod is created again (nats.create_stream) before the next try.
          void this.ensureResources(nc).catch(() => undefined);
        },
      },
    );
    await reader.start();
    this.reader = reader;
    this.lastEpoch = reader.epoch;
    this.events.reading(reader.epoch, reader.position);
  }

  /** A server that lost its store needs the stream created again. */
  async ensureResources(nc: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, this.options.streamName, this.options.createStream);
  }

  epoch(): string {
    return this.reader?.epoch ?? this.lastEpoch;
  }

  /** False when the pod's reader is missing or has been failing to start over for a while. */
  reading(): boolean {
    const since = this.reader?.restartingSince;
    return (
      this.reader !== undefined &&
      (since === undefined || (this.options.clock ?? systemClock)() - since < READER_STUCK_MS)
    );
  }

  async bounds(): Promise<{ first: number; last: number }> {
    if (!this.nc) throw new Error('not connected to NATS');
    const info = await (await jetstreamManager(this.nc)).streams.info(this.options.streamName);
    return { first: info.state.first_seq, last: info.state.last_seq };
  }

  readHistory(read: HistoryRead): Promise<'done' | 'too_long'> {
    if (!this.nc) return Promise.reject(new Error('not connected to NATS'));
    return readHistory(this.nc, this.options.streamName, read, `daisi-ws pod ${this.options.podId} replay`);
  }

  async publish(subject: string, data: Uint8Array, requestId?: string): Promise<{ seq: number }> {
    if (!this.nc) throw new Error('not connected to NATS');
    const h = natsHeaders();
    if (requestId) h.set(REQUEST_ID_HEADER, requestId);
    const ack = await jetstream(this.nc).publish(subject, data, { headers: h });
    return { seq: ack.seq };
  }

  consumerCount(): number {
    return 1;
  }

  async stop(): Promise<void> {
    const reader = this.reader;
    this.reader = undefined;
    await reader?.stop().catch(() => undefined);
  }
}
