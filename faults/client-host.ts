// A child process of the fault suite holding its clients, so that the suite's own process (the
// load, the faults, the checks) does not share an event loop with hundreds of WebSocket clients.
// Each client behaves as a well-written browser client does: it keeps the last `seq` and the
// `epoch` of its ready frame, and whenever its connection ends (or goes silent) it reconnects
// with `since` and `epoch` — to the same pod first, then to the others.
// Messages in: {cmd:'open', specs} · {cmd:'stall', id, ms} · {cmd:'counts'} · {cmd:'report'} · {cmd:'close'}.
import WebSocket from 'ws';

export interface ClientSpec {
  id: number;
  /** Base URLs (ws://host:port) to try in turn, home pod first. */
  pods: string[];
  /** Path and query of the session, without since/epoch. */
  path: string;
}

export interface ClientReport {
  id: number;
  /** [event_id, seq (0 when the frame had none), arrival ms] in arrival order. */
  events: Array<[string, number, number]>;
  reconnects: number;
  /** Error frames (code: message) and ResumeUnavailable, which would mean a gap. */
  errors: string[];
  connected: boolean;
}

const SILENCE_MS = Number(process.env.FAULTS_CLIENT_SILENCE_MS ?? 4000);

class ResumingClient {
  readonly events: Array<[string, number, number]> = [];
  readonly errors: string[] = [];
  reconnects = 0;
  private socket: WebSocket | undefined;
  private lastSeq = 0;
  private epoch: string | undefined;
  private pod = 0;
  private stopped = false;
  private heardAt = Date.now();
  private stalledUntil = 0;
  private everOpened = false;
  opened: Promise<void>;

  constructor(private readonly spec: ClientSpec) {
    this.opened = this.connect();
  }

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Stops reading for `ms` (the socket's reads pause; the server sees a client that does not read). */
  stall(ms: number): void {
    const raw = (this.socket as unknown as { _socket?: { pause(): void; resume(): void } })?._socket;
    raw?.pause();
    this.stalledUntil = Date.now() + ms;
    setTimeout(() => {
      this.heardAt = Date.now();
      raw?.resume();
    }, ms);
  }

  /** A connection that has been silent (no frame, no ping) for SILENCE_MS is given up. */
  checkSilence(now: number): void {
    if (this.stopped || !this.socket || now < this.stalledUntil) return;
    if (this.socket.readyState === WebSocket.OPEN && now - this.heardAt > SILENCE_MS) this.socket.terminate();
  }

  close(): void {
    this.stopped = true;
    this.socket?.close();
  }

  private connect(): Promise<void> {
    const resume = this.epoch ? `&since=${this.lastSeq}&epoch=${encodeURIComponent(this.epoch)}` : '';
    const socket = new WebSocket(`${this.spec.pods[this.pod % this.spec.pods.length]}${this.spec.path}${resume}`, [
      'json.v1',
    ]);
    this.socket = socket;
    this.heardAt = Date.now();
    let opened = false;
    return new Promise<void>((resolve) => {
      socket.on('open', () => {
        if (this.everOpened) this.reconnects++;
        this.everOpened = opened = true;
        resolve();
      });
      socket.on('ping', () => (this.heardAt = Date.now()));
      socket.on('message', (data) => this.onFrame(data.toString()));
      socket.on('error', () => undefined);
      socket.on('unexpected-response', (_req, res) => {
        res.resume();
        socket.terminate();
      });
      socket.on('close', () => {
        resolve();
        if (this.stopped || this.socket !== socket) return;
        // A connection that ended is tried again on the same pod; one that could not be opened
        // (refused, shutting down, no answer) moves on to the next pod.
        if (!opened) this.pod++;
        setTimeout(() => void this.connect(), opened ? 50 : 200);
      });
    });
  }

  private onFrame(text: string): void {
    this.heardAt = Date.now();
    const frame = JSON.parse(text) as { type: string; seq?: number; payload?: any };
    if (frame.type === 'ready') this.epoch = frame.payload.epoch;
    else if (frame.type === 'event') {
      this.events.push([String(frame.payload?.event_id), frame.seq ?? 0, Date.now()]);
      if (frame.seq) this.lastSeq = frame.seq;
    } else if (frame.type === 'error') this.errors.push(`${frame.payload?.code}: ${frame.payload?.message}`);
  }
}

const clients = new Map<number, ResumingClient>();
const watch = setInterval(() => {
  const now = Date.now();
  for (const c of clients.values()) c.checkSilence(now);
}, 500);

process.on('message', async (m: { cmd: string; specs?: ClientSpec[]; id?: number; ms?: number }) => {
  switch (m.cmd) {
    case 'open': {
      const specs = m.specs!;
      for (let i = 0; i < specs.length; i += 100) {
        const batch = specs.slice(i, i + 100).map((s) => new ResumingClient(s));
        for (const [j, c] of batch.entries()) clients.set(specs[i + j]!.id, c);
        await Promise.all(batch.map((c) => c.opened));
      }
      return process.send!({ type: 'opened' });
    }
    case 'stall':
      clients.get(m.id!)?.stall(m.ms!);
      return process.send!({ type: 'stalled' });
    case 'counts':
      return process.send!({ type: 'counts', counts: [...clients].map(([id, c]) => [id, c.events.length]) });
    case 'report': {
      const reports: ClientReport[] = [...clients].map(([id, c]) => ({
        id,
        events: c.events,
        reconnects: c.reconnects,
        errors: c.errors,
        connected: c.connected,
      }));
      return process.send!({ type: 'report', reports });
    }
    case 'close':
      clearInterval(watch);
      for (const c of clients.values()) c.close();
      setTimeout(() => process.exit(0), 200);
  }
});
process.send!({ type: 'up' });
