import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { reconnectDelay } from '../../client/src/backoff.js';
import { type ClientState, DaisiClient, type DaisiClientOptions } from '../../client/src/index.js';
import { chatIdOf, parseClientMessage } from '../../src/domain/frames.js';

/** A WebSocket the test drives: it records what the client sends and opens, speaks and closes on command. */
class FakeSocket {
  static all: FakeSocket[] = [];
  /** Every frame any client sent in this file, as text: the last test reads them as the gateway does. */
  static readonly texts: string[] = [];
  readyState = 0;
  readonly sent: any[] = [];
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason?: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  closedWith: number | undefined;

  constructor(
    readonly url: string,
    readonly protocol?: string | string[],
  ) {
    FakeSocket.all.push(this);
  }

  static get last(): FakeSocket {
    return FakeSocket.all.at(-1)!;
  }

  get query(): URLSearchParams {
    return new URL(this.url).searchParams;
  }

  send(data: string): void {
    FakeSocket.texts.push(data);
    this.sent.push(JSON.parse(data));
  }

  close(code = 1000): void {
    this.closedWith = code;
    this.readyState = 3;
  }

  /** The server's side. */
  frame(frame: object): void {
    this.readyState = 1;
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  ready(epoch = 'e1', expiresAt?: string): void {
    this.frame({ type: 'ready', payload: { epoch, ...(expiresAt ? { expires_at: expiresAt } : {}) } });
  }

  event(seq: number | undefined, id: string): void {
    this.frame({ type: 'event', ...(seq === undefined ? {} : { seq }), payload: { event_id: id } });
  }

  dropped(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** A refusal in band (json.v2): the error frame, then the close. */
  refused(code: number, error: { code: string; message: string; details?: string }): void {
    this.frame({ type: 'error', payload: error });
    this.dropped(code, error.message);
  }
}

/** The client's timers and clock move only when the test says; the jitter is a sequence of the test's. */
function client(options: Partial<DaisiClientOptions> = {}, jitter: number[] = [0.5]) {
  let i = 0;
  const states: ClientState[] = [];
  const events: Array<[string, number | undefined]> = [];
  const c = new DaisiClient({
    url: 'wss://gw/ws/acme/agent-1',
    apiKey: 'key',
    token: 'tok',
    WebSocket: FakeSocket,
    random: () => jitter[i++ % jitter.length]!,
    ...options,
  });
  c.on('state', (s) => void states.push(s));
  c.on('event', (p, meta) => void events.push([(p as { event_id: string }).event_id, meta.seq]));
  return { c, states, events };
}

/** Lets the client's promise callbacks (a token function) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
const tick = async (ms: number) => {
  mock.timers.tick(ms);
  await settle();
};

describe('client SDK', () => {
  beforeEach(() => {
    FakeSocket.all = [];
    mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 });
  });
  afterEach(() => mock.timers.reset());

  it('connects with its key, token and chat, and is connected at ready (its own heartbeats echoed are not a ready)', async () => {
    const { c, states } = client({ chatId: 'chat-1' });
    c.connect();
    await settle();
    const s = FakeSocket.last;
    assert.deepEqual(s.protocol, ['json.v2', 'json.v1'], 'json.v2 first: refusals in band; a Go replica takes json.v1');
    assert.deepEqual(Object.fromEntries(s.query), { token: 'tok', 'x-api-key': 'key', chat_id: 'chat-1' });
    s.ready('e1');
    s.frame({ type: 'ready', heartbeat: true });
    assert.deepEqual(states, ['connecting', 'connected']);
    assert.deepEqual(c.position, { epoch: 'e1', seq: 0 });
  });

  it('hands each event once and in order: a repeated or older seq is dropped, an event without seq passes', async () => {
    const { c, events } = client();
    c.connect();
    await settle();
    const s = FakeSocket.last;
    s.ready();
    s.event(5, 'a');
    s.event(6, 'b');
    s.event(6, 'b again');
    s.event(4, 'old');
    s.event(undefined, 'pushed by Go');
    s.event(7, 'c');
    assert.deepEqual(events, [
      ['a', 5],
      ['b', 6],
      ['pushed by Go', undefined],
      ['c', 7],
    ]);
    assert.deepEqual(c.position, { epoch: 'e1', seq: 7 });
  });

  it('reconnects after a lost connection with since, epoch and the selected chat, after a full-jitter delay', async () => {
    const { c, states } = client({ minReconnectDelayMs: 500, maxReconnectDelayMs: 20_000 }, [0.5]);
    c.connect();
    await settle();
    FakeSocket.last.ready('e9');
    FakeSocket.last.event(41, 'x');
    c.selectChat('chat-7');
    assert.deepEqual(FakeSocket.last.sent.at(-1), { type: 'select_chat', payload: { chat_id: 'chat-7' } });
    FakeSocket.last.dropped(1006);
    assert.equal(states.at(-1), 'disconnected');
    await tick(499);
    assert.equal(FakeSocket.all.length, 1, 'not before the delay');
    await tick(1); // 500 + 0.5 × (min(20000, 500 × 2⁰) − 500) = 500
    assert.equal(FakeSocket.all.length, 2);
    const q = FakeSocket.last.query;
    assert.deepEqual([q.get('since'), q.get('epoch'), q.get('chat_id')], ['41', 'e9', 'chat-7']);
  });

  it('backs off: the window doubles from the least to the most delay, and starts again after a connection got ready', async () => {
    assert.equal(
      reconnectDelay(0, 500, 20_000, () => 1),
      500,
    );
    assert.equal(
      reconnectDelay(3, 500, 20_000, () => 1),
      4000,
    );
    assert.equal(
      reconnectDelay(10, 500, 20_000, () => 1),
      20_000,
    );
    assert.equal(
      reconnectDelay(10, 500, 20_000, () => 0),
      500,
    );
    const { c } = client({ minReconnectDelayMs: 500, maxReconnectDelayMs: 20_000 }, [1]);
    c.connect();
    await settle();
    const waits: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const before = FakeSocket.all.length;
      FakeSocket.last.dropped(1006);
      let waited = 0;
      while (FakeSocket.all.length === before) {
        await tick(100);
        waited += 100;
      }
      waits.push(waited);
    }
    assert.deepEqual(waits, [500, 1000, 2000, 4000]);
    FakeSocket.last.ready();
    FakeSocket.last.dropped(1006);
    await tick(500);
    assert.equal(FakeSocket.all.length, 6, 'a connection that got ready starts the window again');
  });

  it('after 1001 (the server going away) it is back within a second', async () => {
    const { c } = client({ minReconnectDelayMs: 5000 }, [0.99]);
    c.connect();
    await settle();
    FakeSocket.last.ready();
    FakeSocket.last.dropped(1001);
    await tick(990);
    assert.equal(FakeSocket.all.length, 2);
  });

  for (const [code, what] of [
    [4402, 'taken over by another connection'],
    [4410, 'disconnected by an operator'],
  ] as const) {
    it(`after ${code} (${what}) it is closed and stays closed`, async () => {
      const { c, states } = client();
      c.connect();
      await settle();
      FakeSocket.last.ready();
      FakeSocket.last.dropped(code);
      await tick(60_000);
      assert.equal(FakeSocket.all.length, 1);
      assert.equal(c.state, 'closed');
      assert.equal(states.at(-1), 'closed');
    });
  }

  it('after 4403 it asks its token function for a new token before the next try; with a fixed token it stops', async () => {
    const tokens = ['t1', 't2'];
    const { c } = client({ token: async () => tokens.shift()! });
    c.connect();
    await settle();
    assert.equal(FakeSocket.last.query.get('token'), 't1');
    FakeSocket.last.ready();
    FakeSocket.last.dropped(4403);
    await tick(1000);
    assert.equal(FakeSocket.last.query.get('token'), 't2');
    const fixed = client({ token: 'expired' });
    fixed.c.connect();
    await settle();
    FakeSocket.last.dropped(4403);
    await tick(60_000);
    assert.equal(fixed.c.state, 'closed');
  });

  it('after 4429 it waits at least half the longest delay', async () => {
    const { c } = client({ maxReconnectDelayMs: 20_000 }, [0]);
    c.connect();
    await settle();
    FakeSocket.last.dropped(4429);
    await tick(9999);
    assert.equal(FakeSocket.all.length, 1);
    await tick(1);
    assert.equal(FakeSocket.all.length, 2);
  });

  it('takes silence longer than the server could keep for a lost connection, and sends heartbeats meanwhile', async () => {
    const { c } = client({ heartbeatIntervalMs: 1000, silenceTimeoutMs: 4000 });
    c.connect();
    await settle();
    FakeSocket.last.ready();
    await tick(3000);
    assert.deepEqual(FakeSocket.last.sent.at(-1), { type: 'ready', heartbeat: true });
    FakeSocket.last.frame({ type: 'ready', heartbeat: true }); // the echo: heard
    await tick(3500);
    assert.equal(FakeSocket.all.length, 1, 'heard 3.5 s ago: still there');
    await tick(2000);
    assert.equal(FakeSocket.all[0]!.closedWith, 4000, 'silent past 4 s: given up');
    await tick(1000);
    assert.equal(FakeSocket.all.length, 2, 'and tried again');
  });

  it('on ResumeUnavailable it says reset, and takes the events after it whatever their seq', async () => {
    const { c, events } = client();
    const resets: string[] = [];
    c.on('reset', (e) => void resets.push(e.code));
    c.connect();
    await settle();
    FakeSocket.last.ready('old');
    FakeSocket.last.event(900, 'before');
    FakeSocket.last.dropped(1006);
    await tick(1000);
    FakeSocket.last.ready('recreated');
    FakeSocket.last.frame({ type: 'error', payload: { code: 'ResumeUnavailable', message: 'epoch differs' } });
    FakeSocket.last.event(3, 'new stream');
    assert.deepEqual(resets, ['ResumeUnavailable']);
    assert.deepEqual(events.at(-1), ['new stream', 3]);
    assert.deepEqual(c.position, { epoch: 'recreated', seq: 3 });
  });

  it('refreshes its token in band before it expires, and again after each refresh', async () => {
    let n = 0;
    const { c } = client({ token: () => `tok${++n}` });
    c.connect();
    await settle();
    const s = FakeSocket.last;
    s.ready('e1', new Date(Date.now() + 8000).toISOString());
    await tick(5999);
    assert.equal(s.sent.filter((f) => f.type === 'refresh').length, 0);
    await tick(1); // 8 s left: a quarter of it before
    assert.deepEqual(s.sent.at(-1), { type: 'refresh', payload: { token: 'tok2' } });
    s.frame({ type: 'refreshed', payload: { expires_at: new Date(Date.now() + 8000).toISOString() } });
    await tick(6000);
    assert.deepEqual(s.sent.at(-1), { type: 'refresh', payload: { token: 'tok3' } });
    assert.equal(FakeSocket.all.length, 1, 'one connection throughout');
  });

  it('close() closes the socket with 1000 and never comes back', async () => {
    const { c, states } = client();
    c.connect();
    await settle();
    FakeSocket.last.ready();
    c.close();
    FakeSocket.last.dropped(1000);
    await tick(60_000);
    assert.equal(FakeSocket.all[0]!.closedWith, 1000);
    assert.equal(FakeSocket.all.length, 1);
    assert.equal(states.at(-1), 'closed');
  });

  for (const [code, error, token] of [
    [4401, { code: 'InvalidAPIKey', message: 'Invalid API key' }, 'tok'],
    [4403, { code: 'InvalidToken', message: 'Company token has expired.' }, 'tok'],
    [4400, { code: 'BadRequest', message: 'Invalid since' }, () => 'tok'],
    [
      4410,
      { code: 'InvalidToken', message: 'Session blocked by an operator', details: 'Until … (60 s from now).' },
      () => 'tok',
    ],
  ] as const) {
    it(`a handshake refused with ${code} (${error.message}) is an error event and closed, and is not tried again`, async () => {
      const { c, states } = client({ token });
      const errors: unknown[] = [];
      const changes: unknown[] = [];
      c.on('error', (e) => void errors.push(e));
      c.on('state', (state, change) => void changes.push([state, change]));
      c.connect();
      await settle();
      FakeSocket.last.refused(code, error);
      await tick(120_000);
      assert.equal(FakeSocket.all.length, 1, 'never again');
      assert.deepEqual(errors, [error]);
      assert.deepEqual(states, ['connecting', 'closed']);
      assert.deepEqual(changes.at(-1), ['closed', { code, reason: error.message }]);
    });
  }

  for (const [code, what] of [
    [1013, 'try later'],
    [1006, 'a refusal a browser cannot read (json.v1 pod), or a lost connection'],
  ] as const) {
    it(`after ${code} (${what}) it backs off and tries again, with the code on the state change`, async () => {
      const { c } = client({}, [0]);
      const changes: unknown[] = [];
      c.on('state', (state, change) => void changes.push([state, change]));
      c.connect();
      await settle();
      FakeSocket.last.dropped(code, 'later');
      assert.deepEqual(changes.at(-1), ['disconnected', { code, reason: 'later' }]);
      await tick(500);
      assert.equal(FakeSocket.all.length, 2);
    });
  }

  it('maxRetries: gives up after that many failed attempts in a row (RetryLimit, then closed)', async () => {
    const { c } = client({ maxRetries: 2 }, [0]);
    const errors: string[] = [];
    c.on('error', (e) => void errors.push(e.code));
    c.connect();
    await settle();
    for (let i = 0; i < 3; i++) {
      FakeSocket.last.dropped(1006);
      await tick(5000);
    }
    assert.equal(FakeSocket.all.length, 3, 'the first attempt and two retries');
    assert.deepEqual(errors, ['RetryLimit']);
    assert.equal(c.state, 'closed');
  });

  it('starts from a saved position: the first connection already resumes', async () => {
    const { c, events } = client({ position: { epoch: 'e5', seq: 70 }, chatId: 'chat-3' });
    c.connect();
    await settle();
    const q = FakeSocket.last.query;
    assert.deepEqual([q.get('since'), q.get('epoch'), q.get('chat_id')], ['70', 'e5', 'chat-3']);
    FakeSocket.last.ready('e5');
    FakeSocket.last.event(70, 'had it');
    FakeSocket.last.event(71, 'new');
    assert.deepEqual(events, [['new', 71]]);
  });

  it('says when a refresh succeeded and when it failed (server refused, or the token function threw)', async () => {
    const answers: Array<string | Error> = ['t1', 't2', 't3', 'u1', new Error('auth server down')];
    const token = () => {
      const next = answers.shift()!;
      if (next instanceof Error) throw next;
      return next;
    };
    const soon = () => new Date(Date.now() + 8000).toISOString();
    const refreshed: string[] = [];
    const failed: string[] = [];
    const errors: string[] = [];
    // The first client: one refresh taken, the next refused by the server.
    const a = client({ token });
    a.c.on('refreshed', (at) => void refreshed.push(at));
    a.c.on('refreshFailed', (e) => void failed.push(e.code));
    a.c.on('error', (e) => void errors.push(e.code));
    a.c.connect();
    await settle();
    const s = FakeSocket.last;
    s.ready('e1', soon());
    await tick(6000);
    const next = soon();
    s.frame({ type: 'refreshed', payload: { expires_at: next } });
    assert.deepEqual(refreshed, [next]);
    await tick(6000);
    assert.deepEqual(s.sent.at(-1), { type: 'refresh', payload: { token: 't3' } });
    s.frame({ type: 'error', payload: { code: 'InvalidToken', message: 'Token identity differs' } });
    assert.deepEqual(failed, ['InvalidToken']);
    // The second: its token function throws when the refresh is due.
    const b = client({ token });
    b.c.on('refreshFailed', (e) => void failed.push(e.code));
    b.c.on('error', (e) => void errors.push(e.code));
    b.c.connect();
    await settle();
    FakeSocket.last.ready('e1', soon());
    await tick(6000);
    assert.deepEqual(failed, ['InvalidToken', 'TokenUnavailable']);
    assert.deepEqual(errors, [], 'a failed refresh is not a session error: the session goes on until it expires');
  });

  it('says at construction that there is no WebSocket, rather than failing later', () => {
    // Node 22 and later have a global WebSocket: take it away, as on Node 20.
    const global = globalThis as { WebSocket?: unknown };
    const had = Object.getOwnPropertyDescriptor(global, 'WebSocket');
    delete global.WebSocket;
    try {
      assert.throws(
        () => new DaisiClient({ url: 'ws://x/ws/a/b', apiKey: 'k', token: 't', WebSocket: undefined }),
        /no WebSocket here; pass one in \(options\.WebSocket\)/,
      );
    } finally {
      if (had) Object.defineProperty(global, 'WebSocket', had);
    }
  });

  it('json.v2 chat_selected is handed on as the start of the chat', async () => {
    const { c } = client();
    const selected: unknown[] = [];
    c.on('chatSelected', (s) => void selected.push(s));
    c.connect();
    await settle();
    FakeSocket.last.ready();
    c.selectChat('chat-9');
    FakeSocket.last.frame({ type: 'chat_selected', payload: { chat_id: 'chat-9', since: 120 } });
    assert.deepEqual(selected, [{ chatId: 'chat-9', since: 120 }]);
  });

  it('the browser module is at most 3 KB minified and gzipped', async () => {
    const out = await build({
      entryPoints: [new URL('../../client/src/index.ts', import.meta.url).pathname],
      bundle: true,
      minify: true,
      format: 'esm',
      target: 'es2020',
      write: false,
    });
    const size = gzipSync(out.outputFiles[0]!.contents, { level: 9 }).length;
    assert.ok(size <= 3 * 1024, `${size} bytes min+gzip`);
  });
});

describe('the client contract, both ends', () => {
  it('every frame the SDK sent above is one the gateway reads as what it means (domain/frames.ts)', () => {
    const kinds = new Set<string>();
    for (const text of FakeSocket.texts) {
      const sent = JSON.parse(text) as { type: string; payload?: unknown };
      const read = parseClientMessage(text);
      assert.equal(read.type, sent.type, text);
      kinds.add(read.type);
      if (read.type === 'select_chat') assert.ok('chatId' in chatIdOf(read.payload), text);
      if (read.type === 'refresh') assert.equal(typeof (read.payload as { token?: unknown }).token, 'string', text);
    }
    assert.deepEqual([...kinds].sort(), ['ready', 'refresh', 'select_chat'], 'each kind the SDK sends was seen');
  });
});
