import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { subjects } from '../../domain/events.js';
import type { EventSink, EventStream, InboundEvent, Settlement } from '../../domain/ports.js';
import { ensureDurable, ensureStream, type DurableSpec } from './stream-setup.js';

export interface NatsStreamOptions {
  streamName: string;
  consumerName: string;
  createStream: boolean;
  ackWaitSeconds: number;
  maxAckPending: number;
  maxDeliver: number;
}

export interface NatsStreamEvents {
  consuming(durable: string): void;
  consumeStopped(durable: string, err: unknown): void;
  gaveUp(event: InboundEvent): void;
  setupFailed(err: unknown): void;
}

export const REQUEST_ID_HEADER = 'X-Request-ID';

/**
 * The fleet's consumers on the JetStream stream — a fixed number per pod, whatever its load:
 *
 * - `<consumer_name>_gw_chats` and `<consumer_name>_gw_messages`: durable pull consumers shared
 *   by the fleet. Only the lease holder (see Lease) consumes them, one event at a time per
 *   subject, so that every event is routed once and per-chat order holds across the fleet.
 * - an ordered consumer of `wa.*.*.agents` per pod, starting with new events: every pod delivers
 *   agent events to its own admin sessions.
 *
 * The caller re-attaches after a re-dial (see NatsSupervisor); pull consumers with heartbeats
 * resume by themselves across reconnects.
 */
export class NatsEventStream implements EventStream {
  private nc: NatsConnection | undefined;
  private sink: EventSink | undefined;
  private leading = false;
  private readonly running = new Map<string, ConsumerMessages>();
  private ordered: ConsumerMessages | undefined;

  constructor(private readonly options: NatsStreamOptions, private readonly events: NatsStreamEvents) {}

  get durables(): DurableSpec[] {
    const { consumerName, ackWaitSeconds, maxAckPending, maxDeliver } = this.options;
    const base = { ackWaitSeconds, maxAckPending, maxDeliver };
    return [
      { ...base, durable: `${consumerName}_gw_chats`, filterSubject: subjects.allChats },
      { ...base, durable: `${consumerName}_gw_messages`, filterSubject: subjects.allMessages },
    ];
  }

  async start(sink: EventSink): Promise<void> {
    this.sink = sink;
  }

  /** Binds to a (new) connection: creates what is missing and starts consuming. */
  async attach(nc: NatsConnection): Promise<void> {
    await this.detach();
    this.nc = nc;
    await this.ensureResources(nc);
    await this.startOrdered(nc);
    if (this.leading) this.startDurables(nc);
  }

  /**
   * After a reconnect the consumers resume by themselves; a server that lost its store needs
   * the stream and the durables created again.
   */
  async ensureResources(nc: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, this.options.streamName, this.options.createStream);
    for (const spec of this.durables) await ensureDurable(jsm, this.options.streamName, spec);
  }

  async detach(): Promise<void> {
    const all = [...this.running.values(), ...(this.ordered ? [this.ordered] : [])];
    this.running.clear();
    this.ordered = undefined;
    await Promise.all(all.map((m) => m.close().catch(() => undefined)));
  }

  /** Called by the lease: only its holder consumes the shared durables. */
  setLeading(leading: boolean): void {
    this.leading = leading;
    if (!this.nc) return;
    if (leading) this.startDurables(this.nc);
    else this.stopDurables();
  }

  async publish(subject: string, data: Uint8Array, requestId?: string): Promise<{ seq: number }> {
    if (!this.nc) throw new Error('not connected to NATS');
    const h = natsHeaders();
    if (requestId) h.set(REQUEST_ID_HEADER, requestId);
    const ack = await jetstream(this.nc).publish(subject, data, { headers: h });
    return { seq: ack.seq };
  }

  consumerCount(): number {
    return this.durables.length + 1;
  }

  async stop(): Promise<void> {
    this.leading = false;
    await this.detach();
  }

  private async startOrdered(nc: NatsConnection): Promise<void> {
    const consumer = await jetstream(nc).consumers.get(this.options.streamName, {
      filter_subjects: subjects.allAgents,
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume();
    this.ordered = messages;
    void this.pump('agents', messages, (m) => this.sink?.broadcast(toInbound(m)));
  }

  private startDurables(nc: NatsConnection): void {
    for (const spec of this.durables) {
      if (this.running.has(spec.durable)) continue;
      void this.consumeDurable(nc, spec.durable);
    }
  }

  private stopDurables(): void {
    for (const [durable, messages] of this.running) {
      this.running.delete(durable);
      void messages.close().catch(() => undefined);
    }
  }

  private async consumeDurable(nc: NatsConnection, durable: string): Promise<void> {
    try {
      const consumer = await jetstream(nc).consumers.get(this.options.streamName, durable);
      const messages = await consumer.consume({ max_messages: Math.min(1000, this.options.maxAckPending) });
      if (!this.leading || this.nc !== nc) {
        await messages.close();
        return;
      }
      this.running.set(durable, messages);
      this.events.consuming(durable);
      await this.pump(durable, messages, (m) => this.settle(m));
    } catch (err) {
      this.events.consumeStopped(durable, err);
      this.running.delete(durable);
    }
  }

  private async pump(name: string, messages: ConsumerMessages, handle: (m: JsMsg) => void): Promise<void> {
    try {
      for await (const m of messages) handle(m);
    } catch (err) {
      this.events.consumeStopped(name, err);
    }
  }

  private settle(m: JsMsg): void {
    const event = toInbound(m);
    const sink = this.sink;
    if (!sink) return m.nak();
    const apply = (settlement: Settlement) => {
      if (settlement.ack) return m.ack();
      if (event.deliveryCount >= this.options.maxDeliver) {
        this.events.gaveUp(event);
        return m.term();
      }
      m.nak(settlement.retryInMs);
    };
    const result = sink.routed(event);
    if (result instanceof Promise) result.then(apply, () => m.nak(1000));
    else apply(result);
  }
}

function toInbound(m: JsMsg): InboundEvent {
  return {
    subject: m.subject,
    data: m.data,
    seq: m.seq,
    deliveryCount: m.info.deliveryCount,
    requestId: m.headers?.get(REQUEST_ID_HEADER) || undefined,
  };
}
