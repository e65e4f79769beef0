import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, type NatsOptions } from './connection.js';
import { probeWithin, STALL_CHECK_MS, STALL_MS } from './stall.js';

export type NatsState = 'connected' | 'disconnected' | 'closed';

export interface SupervisorEvents {
  connected(server: string): void;
  disconnected(): void;
  reconnected(server: string): void;
  /** The server did not answer within STALL_MS: the connection is moved to another. */
  stalled(server: string): void;
  redialFailed(err: unknown): void;
  attachFailed(err: unknown): void;
}

const REDIAL_MAX_MS = 30_000;

/**
 * Owns the NATS connection: dials it, tracks its state for /ready, and when the client gives up
 * reconnecting (nats.max_reconnects) dials again from scratch with backoff, so that a pod
 * outlives any NATS outage. `attach` runs on every new connection, `reconnected` after the
 * client reconnected an existing one.
 */
export class NatsSupervisor {
  private nc: NatsConnection | undefined;
  private state: NatsState = 'closed';
  private stopping = false;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: NatsOptions,
    private readonly hooks: {
      attach(nc: NatsConnection): Promise<void>;
      reconnected(nc: NatsConnection): Promise<void>;
    },
    private readonly events: SupervisorEvents,
  ) {}

  get status(): NatsState {
    return this.state;
  }

  /** First connection: failure here is a start failure (NatsConnectionError). */
  async start(): Promise<void> {
    const nc = await connectNats(this.options);
    await this.adopt(nc);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.watchdog);
    const nc = this.nc;
    this.nc = undefined;
    this.state = 'closed';
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }

  private async adopt(nc: NatsConnection): Promise<void> {
    this.nc = nc;
    this.state = 'connected';
    this.events.connected(nc.getServer());
    void this.watchStatus(nc);
    this.watchForStall(nc);
    void nc.closed().then(() => this.onClosed(nc));
    try {
      await this.hooks.attach(nc);
    } catch (err) {
      this.events.attachFailed(err);
      throw err;
    }
  }

  /** Asks the server every second; one that has not answered within STALL_MS is left for another. */
  private watchForStall(nc: NatsConnection): void {
    clearInterval(this.watchdog);
    let probing = false;
    this.watchdog = setInterval(async () => {
      if (probing || this.state !== 'connected' || this.nc !== nc) return;
      probing = true;
      try {
        if ((await probeWithin(nc.flush(), STALL_MS)) !== 'stalled' || this.nc !== nc) return;
        this.events.stalled(nc.getServer());
        await nc.reconnect().catch(() => undefined);
      } finally {
        probing = false;
      }
    }, STALL_CHECK_MS);
    this.watchdog.unref();
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.state = 'disconnected';
        this.events.disconnected();
      } else if (s.type === 'reconnect') {
        this.state = 'connected';
        this.events.reconnected(nc.getServer());
        // Resources may be gone if the server lost its store; attach creates what is missing.
        void this.hooks.reconnected(nc).catch((err) => this.events.attachFailed(err));
      }
    }
  }

  private async onClosed(nc: NatsConnection): Promise<void> {
    if (this.stopping || this.nc !== nc) return;
    this.state = 'closed';
    let delay = 500;
    while (!this.stopping) {
      await new Promise((r) => setTimeout(r, delay));
      try {
        const next = await connectNats({ ...this.options, retryOnFailedConnect: false });
        if (this.stopping) return void next.close();
        return void (await this.adopt(next).catch(() => undefined));
      } catch (err) {
        this.events.redialFailed(err);
        delay = Math.min(delay * 2, REDIAL_MAX_MS);
      }
    }
  }
}
