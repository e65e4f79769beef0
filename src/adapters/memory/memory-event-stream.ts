import { parseSubject } from '../../domain/events.js';
import type { EventSink, EventStream, InboundEvent, Settlement } from '../../domain/ports.js';

/**
 * The embedded engine's event stream: publish hands the event to the sink at once, in publish
 * order; an event the sink asks to retry is redelivered after the delay, up to maxDeliver times.
 * Nothing is persisted: a restart starts empty, as a single node with no broker would.
 */
export class MemoryEventStream implements EventStream {
  private sink: EventSink | undefined;
  private seq = 0;
  private readonly retries = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly maxDeliver: number, private readonly onGiveUp: (event: InboundEvent) => void = () => {}) {}

  async start(sink: EventSink): Promise<void> {
    this.sink = sink;
  }

  async publish(subject: string, data: Uint8Array, requestId?: string): Promise<{ seq: number }> {
    const event: InboundEvent = { subject, data, seq: ++this.seq, deliveryCount: 1, requestId };
    this.deliver(event);
    return { seq: event.seq };
  }

  consumerCount(): number {
    return 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.retries) clearTimeout(timer);
    this.retries.clear();
  }

  private deliver(event: InboundEvent): void {
    const sink = this.sink;
    if (!sink || this.stopped) return;
    if (parseSubject(event.subject)?.kind === 'agents') {
      sink.broadcast(event);
      return;
    }
    void Promise.resolve(sink.routed(event)).then((settlement) => this.settle(event, settlement));
  }

  private settle(event: InboundEvent, settlement: Settlement): void {
    if (settlement.ack) return;
    if (event.deliveryCount >= this.maxDeliver) return this.onGiveUp(event);
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      this.deliver({ ...event, deliveryCount: event.deliveryCount + 1 });
    }, settlement.retryInMs);
    this.retries.add(timer);
  }
}
