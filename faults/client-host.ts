// A child process of the fault suite holding its clients, so that the suite's own process (the
// load, the faults, the checks) does not share an event loop with hundreds of WebSocket clients.
// Each client is the project's client SDK (client/), as an application runs it: it reconnects with
// its jittered backoff, resumes from the last event it delivered and drops what it had already —
// so the suite proves the promise through the code applications run. A connection that could not
// be opened moves the client on to the next pod (a load balancer's job in front of a real fleet).
// Messages in: {cmd:'open', specs} · {cmd:'stall', id, ms} · {cmd:'hop', id} · {cmd:'counts'} · {cmd:'report'} · {cmd:'close'}.
import WebSocket from 'ws';
import { type ClientState, DaisiClient } from '../client/src/index.js';

export interface ClientSpec {
  id: number;
  /** Base URLs (ws://host:port) to try in turn, home pod first. */
  pods: string[];
  /** `/ws/<company>/<agent>`. */
  path: string;
  token: string;
  apiKey: string;
  chatId?: string;
}

export interface ClientReport {
  id: number;
  /** [event_id, seq (0 when the frame had none), arrival ms] in arrival order. */
  events: Array<[string, number, number]>;
  reconnects: number;
  /** How long each reconnection took, from the connection's loss to the next `ready` (ms). */
  reconnectMs: number[];
  /** Error frames (code: message) and ResumeUnavailable, which would mean a gap. */
  errors: string[];
  connected: boolean;
}

/** The pods' ping interval in the fault suite is 1 s: silence of 4 s is a lost connection. */
const SILENCE_MS = Number(process.env.FAULTS_CLIENT_SILENCE_MS ?? 4000);

class FaultClient {
  readonly events: Array<[string, number, number]> = [];
  readonly errors: string[] = [];
  readonly reconnectMs: number[] = [];
  reconnects = 0;
  readonly client: DaisiClient;
  opened: Promise<void>;
  private socket: WebSocket | undefined;
  private pod = 0;
  private readySinceConnecting = false;
  private lostAt: number | undefined;

  constructor(spec: ClientSpec) {
    const self = this;
    /** The SDK's sockets, seen by the host (to stall one). */
    class Tracked extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        self.socket = this;
      }
    }
    this.client = new DaisiClient({
      url: () => `${spec.pods[this.pod % spec.pods.length]}${spec.path}`,
      apiKey: spec.apiKey,
      token: spec.token,
      chatId: spec.chatId,
      WebSocket: Tracked,
      heartbeatIntervalMs: 1000,
      silenceTimeoutMs: SILENCE_MS,
    });
    this.client.on('event', (payload, { seq }) => {
      this.events.push([String((payload as { event_id?: string })?.event_id), seq ?? 0, Date.now()]);
    });
    this.client.on('error', (e) => void this.errors.push(`${e.code}: ${e.message}`));
    this.client.on('reset', (e) => void this.errors.push(`${e.code}: ${e.message}`));
    this.opened = new Promise((resolve) => this.client.on('state', (s) => s === 'connected' && resolve()));
    this.client.on('state', (s) => this.onState(s));
    this.client.connect();
  }

  get connected(): boolean {
    return this.client.state === 'connected';
  }

  private onState(state: ClientState): void {
    if (state === 'connecting') this.readySinceConnecting = false;
    if (state === 'connected') {
      if (this.lostAt !== undefined) {
        this.reconnects++;
        this.reconnectMs.push(Date.now() - this.lostAt);
      }
      this.lostAt = undefined;
      this.readySinceConnecting = true;
    }
    if (state === 'disconnected') {
      this.lostAt ??= Date.now();
      if (!this.readySinceConnecting) this.pod++; // could not be opened there: the next pod
    }
  }

  /** Stops reading for `ms` (the socket's reads pause; the server sees a client that does not read). */
  stall(ms: number): void {
    const raw = (this.socket as unknown as { _socket?: { pause(): void; resume(): void } })?._socket;
    raw?.pause();
    setTimeout(() => raw?.resume(), ms);
  }

  /** The connection drops; the SDK reconnects — to the next pod — and resumes. */
  hop(): void {
    this.pod++;
    this.socket?.terminate();
  }

  close(): void {
    this.client.close();
  }
}

const clients = new Map<number, FaultClient>();

process.on('message', async (m: { cmd: string; specs?: ClientSpec[]; id?: number; ms?: number }) => {
  switch (m.cmd) {
    case 'open': {
      const specs = m.specs!;
      for (let i = 0; i < specs.length; i += 100) {
        const batch = specs.slice(i, i + 100).map((s) => new FaultClient(s));
        for (const [j, c] of batch.entries()) clients.set(specs[i + j]!.id, c);
        await Promise.all(batch.map((c) => c.opened));
      }
      return process.send!({ type: 'opened' });
    }
    case 'stall':
      clients.get(m.id!)?.stall(m.ms!);
      return process.send!({ type: 'stalled' });
    case 'hop':
      clients.get(m.id!)?.hop();
      return process.send!({ type: 'hopped' });
    case 'counts':
      return process.send!({ type: 'counts', counts: [...clients].map(([id, c]) => [id, c.events.length]) });
    case 'report': {
      const reports: ClientReport[] = [...clients].map(([id, c]) => ({
        id,
        events: c.events,
        reconnects: c.reconnects,
        reconnectMs: c.reconnectMs,
        errors: c.errors,
        connected: c.connected,
      }));
      return process.send!({ type: 'report', reports });
    }
    case 'close':
      for (const c of clients.values()) c.close();
      setTimeout(() => process.exit(0), 200);
  }
});
process.send!({ type: 'up' });
