import WebSocket from 'ws';
import { waitFor } from './wait.js';

export interface Frame {
  type: string;
  seq?: number;
  payload?: any;
}

/** A real WebSocket client that records frames and lets a test wait for one. */
export class TestClient {
  readonly frames: Frame[] = [];
  /** Every text frame as it arrived, with the time it arrived. */
  readonly raw: Array<{ text: string; at: number }> = [];
  private waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Markers of sync() round trips sent so far. */
  private syncs = 0;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const text = data.toString();
      this.raw.push({ text, at: Date.now() });
      const frame = JSON.parse(text) as Frame;
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static open(url: string, options: WebSocket.ClientOptions = {}, protocols = ['json.v1']): Promise<TestClient> {
    const socket = new WebSocket(url, protocols, options);
    const client = new TestClient(socket);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(client));
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
  }

  /** Opens and waits for the `ready` frame. */
  static async ready(url: string): Promise<TestClient> {
    const client = await TestClient.open(url);
    await client.next((f) => f.type === 'ready');
    return client;
  }

  /** The first frame (already received or coming) that matches. */
  next(match: (f: Frame) => boolean, timeoutMs = 3000): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5))}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  events(): Frame[] {
    return this.frames.filter((f) => f.type === 'event');
  }

  /** Waits until `count` events arrived. */
  async waitEvents(count: number, timeoutMs = 10_000): Promise<Frame[]> {
    await waitFor(() => this.events().length >= count, timeoutMs).catch(() => {
      throw new Error(`got ${this.events().length} of ${count} events`);
    });
    return this.events();
  }

  send(value: unknown): void {
    this.socket.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  selectChat(chatId: string): void {
    this.send({ type: 'select_chat', payload: { chat_id: chatId } });
  }

  /**
   * Resolves once the gateway has handled every frame this client sent before: a `ready` frame with a marker
   * makes the round trip (the gateway echoes it, and reads a connection's frames in order). After
   * `selectChat(…)` and `sync()`, every event of the chat published from then on reaches the session.
   */
  async sync(): Promise<void> {
    const marker = ++this.syncs;
    this.send({ type: 'ready', sync: marker });
    await this.next((f) => f.type === 'ready' && (f as Frame & { sync?: number }).sync === marker);
  }

  close(): Promise<{ code: number; reason: string }> {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000);
    return this.closed;
  }
}

/** The HTTP answer to a refused upgrade. */
export function refusal(
  url: string,
  headers: Record<string, string> = {},
  options: WebSocket.ClientOptions = {},
): Promise<{ status: number; body: any; requestId: string | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { ...options, headers });
    socket.once('open', () => {
      socket.close();
      reject(new Error('upgrade was accepted'));
    });
    socket.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(text || 'null'),
          requestId: res.headers['x-request-id'] as string | undefined,
        }),
      );
    });
    socket.once('error', () => undefined);
  });
}
