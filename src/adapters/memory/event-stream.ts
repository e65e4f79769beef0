import { randomBytes } from 'node:crypto';
import type { EventSink, EventStream, HistoryRead } from '../../domain/ports.js';

/**
 * The embedded engine's event stream: publish numbers the event and hands it to the pod's
 * sink at once, in publish order — the same `seq` and order a JetStream reader gives. It stores
 * nothing itself (the pod's recent history answers resumes); the epoch is new at every start,
 * as a single node with no broker starts with an empty stream.
 */
export class MemoryEventStream implements EventStream {
  private sink: EventSink | undefined;
  private seq = 0;
  private stopped = false;
  private readonly epochValue = randomBytes(9).toString('base64url');

  async start(sink: EventSink): Promise<void> {
    this.sink = sink;
  }

  async publish(subject: string, data: Uint8Array): Promise<{ seq: number }> {
    const seq = ++this.seq;
    if (this.sink && !this.stopped) this.sink.deliver({ subject, data, seq });
    return { seq };
  }

  epoch(): string {
    return this.epochValue;
  }

  head(): number {
    return this.seq;
  }

  async bounds(): Promise<{ first: number; last: number }> {
    return { first: this.seq + 1, last: this.seq };
  }

  async readHistory(_read: HistoryRead): Promise<'done'> {
    return 'done'; // nothing is stored beyond the pod's own history; bounds() says so
  }

  consumerCount(): number {
    return 0;
  }

  /** One node: every event goes to the pod's sink, wanted or not. */
  want(): void {}

  unwant(): void {}

  /** Everything since the node started. */
  liveFrom(): number {
    return 0;
  }

  async whenLive(): Promise<number> {
    return 0;
  }

  async prepare(): Promise<void> {}

  async stop(): Promise<void> {
    this.stopped = true;
  }
}
