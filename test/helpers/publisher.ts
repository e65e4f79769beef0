import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';

/** The change-data-capture side: publishes events to JetStream as the producer does. */
export class TestPublisher {
  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
  ) {}

  static async connect(url: string): Promise<TestPublisher> {
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    return new TestPublisher(nc, jetstream(nc));
  }

  async publish(subject: string, payload: unknown, requestId?: string): Promise<number> {
    const h = headers();
    if (requestId) h.set('X-Request-ID', requestId);
    const data = typeof payload === 'string' ? payload : JSON.stringify(payload);
    return (await this.js.publish(subject, data, { headers: h })).seq;
  }

  /**
   * As a producer on a JetStream cluster must: with a Nats-Msg-Id, tried again until the stream
   * acknowledges (a leader election answers "no responders" or times out meanwhile).
   */
  async publishUntilStored(subject: string, payload: unknown, msgId: string, timeoutMs = 30_000): Promise<number> {
    const data = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return (await this.js.publish(subject, data, { msgID: msgId, timeout: 2000 })).seq;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  async consumerCount(stream: string): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    return (await jsm.streams.info(stream)).state.consumer_count;
  }

  async waitForStream(stream: string, timeoutMs = 10_000): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await jsm.streams.info(stream);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  close(): Promise<void> {
    return this.nc.close();
  }
}

export function event(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { event_id: id, event_time: new Date().toISOString(), company_id: 'c', row_data: { id }, ...extra };
}
