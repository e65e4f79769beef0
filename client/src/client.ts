import { CloseCodes, Reconnect } from './close-codes.js';
import { rateLimitedDelay, reconnectDelay, refreshLead, shutdownDelay } from './backoff.js';

export type ClientState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** An error frame's payload, as the gateway sends it. */
export interface ErrorPayload {
  code: string;
  message: string;
  details?: string;
}

export interface Resumed {
  from: number;
  to: number;
  count: number;
}

/** Where the client is: the stream's epoch and the sequence of the last event it delivered. */
export interface Position {
  epoch: string;
  seq: number;
}

/** A state change; `closed` and `disconnected` say which close code brought them, and why. */
export interface StateChange {
  code?: number;
  reason?: string;
}

/** The start of a selected chat (json.v2): every event of it after `since` comes. */
export interface ChatSelected {
  chatId: string;
  since: number;
}

export interface EventMeta {
  /** The stream sequence; undefined for an event a Go replica pushed that has none. */
  seq: number | undefined;
}

export interface ClientEvents<P = unknown> {
  event: (payload: P, meta: EventMeta) => void;
  state: (state: ClientState, change: StateChange) => void;
  resumed: (resumed: Resumed) => void;
  /** ResumeUnavailable: what was missed cannot be replayed; reload the state from the back end. */
  reset: (error: ErrorPayload) => void;
  /** An error frame (a refusal comes as one, then `closed`), or a token that could not be had. */
  error: (error: ErrorPayload) => void;
  /** The token was refreshed in band; the session now lasts until `expiresAt`. */
  refreshed: (expiresAt: string) => void;
  /** A refresh failed (the token function threw, or the server refused the token): the session ends at expiry. */
  refreshFailed: (error: ErrorPayload) => void;
  chatSelected: (selected: ChatSelected) => void;
}

/** What the client uses of a WebSocket: the browser's, or the `ws` package's on Node 20. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/**
 * The browser's `WebSocket` or the `ws` package's, as they are: their handlers' event types differ, so
 * the instance is only required to be an object here (the client uses the WebSocketLike part).
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => object;

export interface DaisiClientOptions {
  /** `wss://host/ws/<company>/<agent>` or `…/ws/admin`; a function is asked at each connect. */
  url: string | (() => string);
  /** The client API key. */
  apiKey: string;
  /** A token, or a function that fetches one: asked at each connect and before the token expires. */
  token: string | (() => string | Promise<string>);
  /** A chat to select at connect (and to resume). */
  chatId?: string;
  /** A saved `position` (a page reload): the first connection resumes from it, nothing in between lost. */
  position?: Position;
  /** Give up after this many attempts in a row that did not reach `ready` (`error` RetryLimit, then `closed`). */
  maxRetries?: number;
  /** When there is no global WebSocket (Node 20: the `ws` package's). */
  WebSocket?: WebSocketConstructor;
  minReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** How often the client shows it is there; a frame comes back (browsers do not show pings). */
  heartbeatIntervalMs?: number;
  /** Silence longer than this is a lost connection: the server's ping interval plus its pong wait. */
  silenceTimeoutMs?: number;
  /** For tests: the source of the jitter. */
  random?: () => number;
}

const OPEN = 1;
/**
 * What a close code means for coming back is the server's table (close-codes.ts, generated from it):
 * never after a bad request or key, a take-over or an operator's disconnect; after a refused token only
 * when a token function can give a new one; later after a rate limit; soon after a pod went away.
 */
const is = (codes: readonly number[], code: number) => codes.includes(code);
/** Offered in this order: a daisi-ws pod refuses in band (json.v2), a Go replica takes json.v1. */
const PROTOCOLS = ['json.v2', 'json.v1'];

type Listeners<P> = { [K in keyof ClientEvents<P>]: Set<ClientEvents<P>[K]> };

/**
 * A daisi-ws session that survives its connection: it reconnects with jittered backoff, resumes
 * from the last event it delivered (with the selected chat), hands the application each event once
 * and in stream order, and refreshes its token in band before it expires (docs/protocol.md,
 * *Resume*, *Session lifetime*).
 */
export class DaisiClient<P = unknown> {
  private socket: WebSocketLike | undefined;
  private current: ClientState = 'disconnected';
  private readonly pos: Position = { epoch: '', seq: 0 };
  private chat: string | undefined;
  private attempt = 0;
  private stopped = false;
  private heardAt = 0;
  /** A refresh frame is out: an InvalidToken error answers it. */
  private refreshing = false;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private readonly listeners: Listeners<P> = {
    event: new Set(),
    state: new Set(),
    resumed: new Set(),
    reset: new Set(),
    error: new Set(),
    refreshed: new Set(),
    refreshFailed: new Set(),
    chatSelected: new Set(),
  };
  private readonly random: () => number;
  private readonly Ctor: WebSocketConstructor;

  constructor(private readonly options: DaisiClientOptions) {
    this.chat = options.chatId;
    this.random = options.random ?? Math.random;
    if (options.position) Object.assign(this.pos, options.position);
    const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) throw new TypeError('daisi-ws client: no WebSocket here; pass one in (options.WebSocket)');
    this.Ctor = Ctor;
  }

  get state(): ClientState {
    return this.current;
  }

  /** The stream's epoch and the sequence of the last event delivered (what a resume starts after). */
  get position(): Position {
    return { ...this.pos };
  }

  /** Listens; returns the function that stops listening. */
  on<K extends keyof ClientEvents<P>>(event: K, listener: ClientEvents<P>[K]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  connect(): void {
    this.stopped = false;
    if (this.socket || this.current === 'connecting') return;
    this.drop(); // a reconnection waiting for its time is not needed any more
    void this.open();
  }

  /** Receive this chat's messages from now on (and after every reconnect). */
  selectChat(chatId: string): void {
    this.chat = chatId;
    this.sendFrame({ type: 'select_chat', payload: { chat_id: chatId } });
  }

  /** Ends the session for good (until connect() is called again). */
  close(): void {
    this.stopped = true;
    const socket = this.socket;
    this.drop();
    socket?.close(CloseCodes.Normal, 'closed by the client');
    this.setState('closed', { code: 1000, reason: 'closed by the client' });
  }

  private async open(): Promise<void> {
    this.setState('connecting');
    let token: string;
    try {
      const t = this.options.token;
      token = typeof t === 'string' ? t : await t();
    } catch (err) {
      this.emit('error', tokenUnavailable(err));
      this.retry(reconnectDelay(this.attempt++, this.minDelay(), this.maxDelay(), this.random));
      return;
    }
    if (this.stopped) return;
    const socket = new this.Ctor(this.address(token), PROTOCOLS) as WebSocketLike;
    this.socket = socket;
    this.heardAt = Date.now();
    socket.onmessage = (m) => socket === this.socket && this.onFrame(String(m.data));
    socket.onclose = (e) => socket === this.socket && this.onClose(e.code, e.reason);
    socket.onerror = () => undefined; // a close follows
    // The `ws` package shows the server's pings; a browser's WebSocket answers them unseen.
    (socket as { on?: (event: string, listener: () => void) => void }).on?.('ping', () => this.heard());
    this.watch(socket);
  }

  private address(token: string): string {
    const base = typeof this.options.url === 'function' ? this.options.url() : this.options.url;
    const query = new URLSearchParams({ token, 'x-api-key': this.options.apiKey });
    if (this.pos.epoch) {
      query.set('since', String(this.pos.seq));
      query.set('epoch', this.pos.epoch);
    }
    if (this.chat !== undefined) query.set('chat_id', this.chat);
    return `${base}${base.includes('?') ? '&' : '?'}${query}`;
  }

  private onFrame(text: string): void {
    this.heard();
    let frame: { type?: string; seq?: number; payload?: Record<string, unknown> };
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    const payload = frame.payload ?? {};
    if (frame.type === 'event') this.onEvent(payload as P, frame.seq);
    else if (frame.type === 'ready') this.onReady(payload);
    else if (frame.type === 'refreshed') this.onRefreshed(payload.expires_at);
    else if (frame.type === 'resumed') this.emit('resumed', payload as unknown as Resumed);
    else if (frame.type === 'chat_selected')
      this.emit('chatSelected', { chatId: payload.chat_id as string, since: payload.since as number });
    else if (frame.type === 'error') this.onError(payload as unknown as ErrorPayload);
  }

  private onRefreshed(expiresAt: unknown): void {
    this.refreshing = false;
    this.emit('refreshed', expiresAt as string);
    this.scheduleRefresh(expiresAt);
  }

  private onEvent(payload: P, seq: number | undefined): void {
    if (typeof seq === 'number') {
      if (seq <= this.pos.seq) return; // had it already (a replay overlapping what came live)
      this.pos.seq = seq;
    }
    this.emit('event', payload, { seq });
  }

  private onReady(payload: Record<string, unknown>): void {
    if (typeof payload.epoch !== 'string') return; // our heartbeat, echoed
    this.pos.epoch = payload.epoch;
    this.attempt = 0;
    this.scheduleRefresh(payload.expires_at);
    this.setState('connected');
  }

  private onError(error: ErrorPayload): void {
    if (this.refreshing && error.code === 'InvalidToken') {
      this.refreshing = false;
      this.emit('refreshFailed', error);
      return;
    }
    if (error.code !== 'ResumeUnavailable') {
      this.emit('error', error);
      return;
    }
    this.pos.seq = 0; // live from here: the epoch may be new, and its sequences start again
    this.emit('reset', error);
  }

  private onClose(code: number, reason = ''): void {
    this.drop();
    const change = { code, reason };
    const tooMany = this.attempt >= (this.options.maxRetries ?? Number.POSITIVE_INFINITY);
    if (tooMany && !this.stopped)
      this.emit('error', { code: 'RetryLimit', message: `${this.attempt} attempts failed` });
    if (
      this.stopped ||
      tooMany ||
      is(Reconnect.never, code) ||
      (is(Reconnect.token, code) && typeof this.options.token === 'string')
    ) {
      this.stopped = true;
      this.setState('closed', change);
      return;
    }
    this.setState('disconnected', change);
    const max = this.maxDelay();
    if (is(Reconnect.soon, code)) this.retry(shutdownDelay(this.random));
    else if (is(Reconnect.slow, code)) this.retry(rateLimitedDelay(max, this.random));
    else this.retry(reconnectDelay(this.attempt++, this.minDelay(), max, this.random));
  }

  private retry(delayMs: number): void {
    if (this.current !== 'closed') this.setState('disconnected', {});
    this.later(delayMs, () => {
      if (!this.stopped && !this.socket && this.current !== 'connecting') void this.open();
    });
  }

  /** Heartbeats out, and silence longer than silenceTimeoutMs taken for a lost connection. */
  private watch(socket: WebSocketLike): void {
    const every = this.options.heartbeatIntervalMs ?? 20_000;
    const silence = this.options.silenceTimeoutMs ?? 80_000;
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(
      () => {
        if (socket !== this.socket) return; // a timer of a connection that is over
        if (Date.now() - this.heardAt > silence) this.lost();
        else this.sendFrame({ type: 'ready', heartbeat: true });
      },
      Math.min(every, silence / 2),
    );
  }

  private heard(): void {
    this.heardAt = Date.now();
  }

  /** A connection gone silent: dropped at once (its close may take long to come), and tried again. */
  private lost(): void {
    const socket = this.socket as (WebSocketLike & { terminate?: () => void }) | undefined;
    this.socket = undefined;
    if (socket?.terminate) socket.terminate();
    else socket?.close(4000, 'silent');
    this.onClose(1006);
  }

  private scheduleRefresh(expiresAt: unknown): void {
    const token = this.options.token;
    if (typeof token === 'string' || typeof expiresAt !== 'string') return;
    const remaining = Date.parse(expiresAt) - Date.now();
    if (!Number.isFinite(remaining)) return;
    const socket = this.socket;
    this.later(Math.max(0, remaining - refreshLead(remaining)), async () => {
      try {
        const next = await token();
        this.refreshing = true;
        if (socket === this.socket) this.sendFrame({ type: 'refresh', payload: { token: next } });
      } catch (err) {
        // The session closes at expiry (4403) and the next connection asks for a token again.
        this.emit('refreshFailed', tokenUnavailable(err));
      }
    });
  }

  private sendFrame(frame: object): void {
    if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify(frame));
  }

  private later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }

  /** Forgets the connection and its timers. */
  private drop(): void {
    this.socket = undefined;
    this.refreshing = false;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private minDelay(): number {
    return this.options.minReconnectDelayMs ?? 500;
  }

  private maxDelay(): number {
    return this.options.maxReconnectDelayMs ?? 20_000;
  }

  private setState(state: ClientState, change: StateChange = {}): void {
    if (state === this.current) return;
    this.current = state;
    this.emit('state', state, change);
  }

  private emit<K extends keyof ClientEvents<P>>(event: K, ...args: Parameters<ClientEvents<P>[K]>): void {
    for (const listener of this.listeners[event]) (listener as (...a: unknown[]) => void)(...args);
  }
}

function tokenUnavailable(err: unknown): ErrorPayload {
  return { code: 'TokenUnavailable', message: String((err as Error)?.message ?? err) };
}
