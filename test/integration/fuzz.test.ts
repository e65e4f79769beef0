import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { KEYS } from '../helpers/env.js';
import { companyToken, spawnGateway, type ChildGateway } from '../helpers/gateway.js';
import { httpCall } from '../helpers/http-client.js';

/**
 * A seeded fuzz of the HTTP and WebSocket surfaces against a gateway process: random methods,
 * paths, headers, bodies, upgrade queries, tokens and frames. No answer may be a 5xx, no close a
 * 1011, the process must live and its memory stay bounded. `npm test` runs a small count;
 * by hand: FUZZ_COUNT=20000 FUZZ_SEED=7 npm test -- fuzz
 */
const COUNT = Number(process.env.FUZZ_COUNT ?? 300);
const SEED = Number(process.env.FUZZ_SEED ?? 20261126);
const HOST = '127.0.0.11';

function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    // mulberry32
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chars = 'abcAZ09._-*>:/%?#&= \t\u00e9\u{1F600}\u0000\u007f';
  const text = (max = 40) => Array.from({ length: int(max) }, () => pick([...chars])).join('');
  const bytes = (max = 200) => Buffer.from(Array.from({ length: int(max) }, () => int(256)));
  const scalar = (): unknown =>
    pick([
      () => int(1e6),
      () => -int(100),
      () => 1e300,
      () => 2.6e11,
      () => 0.5,
      () => text(),
      () => true,
      () => null,
      () => 'x'.repeat(int(2000)),
    ])();
  const value = (depth = 0): unknown => {
    if (depth > 3 || next() < 0.5) return scalar();
    if (next() < 0.3) return Array.from({ length: int(4) }, () => value(depth + 1));
    return object(depth + 1);
  };
  const keys = [
    'company_id',
    'agent_id',
    'user_id',
    'admin_id',
    'expires_in_seconds',
    'subject',
    'event',
    'kind',
    'chat_id',
    'type',
    'payload',
    'since',
    'epoch',
    'subscribed_company_id',
    'company_id_restriction',
  ];
  const object = (depth = 0): Record<string, unknown> =>
    Object.fromEntries(Array.from({ length: int(6) }, () => [next() < 0.8 ? pick(keys) : text(10), value(depth)]));
  return { next, int, pick, text, bytes, object };
}

describe(`fuzz: ${COUNT} random requests, upgrades and frames (seed ${SEED})`, () => {
  let gw: ChildGateway;
  const g = generator(SEED);
  const statuses = new Map<number, number>();
  const closes = new Map<number, number>();
  const note = (map: Map<number, number>, k: number) => map.set(k, (map.get(k) ?? 0) + 1);
  const rss = async () =>
    Number(/process_resident_memory_bytes (\d+)/.exec((await httpCall(`${gw.http}/metrics`)).body as string)?.[1]);

  before(async () => {
    gw = await spawnGateway(HOST);
  });
  after(() => gw?.stop());

  const paths = [
    '/',
    '/health',
    '/ready',
    '/metrics',
    '/generate-token',
    '/admin/generate-token',
    '/api/publish',
    '/ws/admin',
    '/ws/c1/a1',
    '/ws/c1',
    '/index.html',
    '/../etc/passwd',
    '/%2e%2e/%2e%2e/',
    '/ws/%ZZ/a',
  ];
  const randomPath = () =>
    (g.next() < 0.7 ? g.pick(paths) : `/${g.text(60)}`) + (g.next() < 0.3 ? `?${g.text(40)}` : '');

  async function randomRequest(): Promise<void> {
    const headers: Record<string, string> = {};
    if (g.next() < 0.6) headers['X-API-Key'] = g.pick([KEYS.client, KEYS.admin, g.text(30)]);
    if (g.next() < 0.3) headers['X-Request-ID'] = g.text(250).replace(/[^\x21-\x7e]/g, 'q');
    if (g.next() < 0.3)
      headers['Content-Type'] = g.pick(['application/json', 'text/plain', 'multipart/form-data; boundary=x']);
    const body = g.next() < 0.7 ? JSON.stringify(g.object()) : g.bytes();
    const method = g.pick(['GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH']);
    const safePath = encodeURI(randomPath()).replace(/%25/g, '%');
    try {
      const r = await httpCall(`${gw.http}${safePath}`, {
        method,
        headers,
        body: method === 'GET' || method === 'HEAD' ? undefined : body,
      });
      note(statuses, r.status);
    } catch {
      note(statuses, -1); // refused by the client library itself (invalid path)
    }
  }

  /** Bytes no HTTP client would send: the server must answer 4xx or close, never 5xx. */
  async function rawRequest(): Promise<void> {
    const head = g.next() < 0.5 ? `${g.pick(['GET', 'POST', 'BREW', ''])} ${randomPath()} HTTP/1.${g.int(3)}\r\n` : '';
    const payload = Buffer.concat([
      Buffer.from(
        `${head}Host: ` +
          `x\r\n${g.next() < 0.5 ? `Content-Length: ${g.pick(['-1', '99999999999', 'abc', '5'])}\r\n` : ''}\r\n`,
      ),
      g.bytes(300),
    ]);
    const reply = await new Promise<string>((resolve) => {
      const socket = connect({ host: HOST, port: Number(new URL(gw.http).port) });
      let text = '';
      socket.on('data', (d) => (text += d.toString('latin1')));
      socket.on('error', () => resolve(text));
      socket.on('close', () => resolve(text));
      socket.write(payload);
      setTimeout(() => socket.destroy(), 300);
    });
    const status = /^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1];
    note(statuses, status ? Number(status) : 0);
  }

  async function randomUpgrade(): Promise<void> {
    const token = g.pick([companyToken('c1', 'a1', 'u1'), g.text(80), 'A'.repeat(g.int(500)), '']);
    const query = new URLSearchParams({ token, 'x-api-key': g.pick([KEYS.client, g.text(10)]) });
    if (g.next() < 0.4) query.set('since', g.pick(['0', '-1', '1e9', 'x', '99999999999999999999']));
    if (g.next() < 0.4) query.set('epoch', g.text(20));
    if (g.next() < 0.3) query.set('chat_id', g.text(20));
    const path = g.pick(['/ws/c1/a1', '/ws/admin', `/ws/${encodeURIComponent(g.text(10))}/a1`]);
    await new Promise<void>((resolve) => {
      const socket = new WebSocket(`${gw.ws}${path}?${query}`, g.next() < 0.8 ? ['json.v1'] : undefined);
      socket.once('unexpected-response', (_req, res) => {
        note(statuses, res.statusCode ?? 0);
        res.resume();
        resolve();
      });
      socket.once('open', () => {
        note(statuses, 101);
        socket.close();
      });
      socket.once('close', () => resolve());
      socket.once('error', () => resolve());
    });
  }

  async function randomFrames(): Promise<void> {
    const socket = new WebSocket(
      `${gw.ws}/ws/c1/a1?token=${encodeURIComponent(companyToken('c1', 'a1', `fz${g.int(5)}`))}` +
        `&x-api-key=${KEYS.client}`,
      ['json.v1'],
    );
    await new Promise<void>((resolve) => {
      socket.once('close', (code) => {
        note(closes, code);
        resolve();
      });
      socket.once('error', () => undefined);
      socket.once('open', () => {
        for (let i = 0; i < 20; i++) {
          if (socket.readyState !== WebSocket.OPEN) break;
          const r = g.next();
          if (r < 0.5)
            socket.send(
              JSON.stringify({
                type: g.pick(['select_chat', 'ping', 'pong', 'event', g.text(8)]),
                payload: g.object(),
              }),
            );
          else if (r < 0.7) socket.send(g.bytes(500));
          else if (r < 0.8) socket.send(g.bytes(70_000).toString('latin1'));
          else socket.send(g.text(100));
        }
        setTimeout(() => socket.close(), 50);
      });
    });
  }

  it('answers every input with a 1xx-4xx, closes no session with 1011, lives on with bounded memory', async () => {
    const started = Date.now();
    const rssBefore = await rss();
    for (let i = 0; i < COUNT; i++) {
      const step = g.pick([randomRequest, randomRequest, rawRequest, randomUpgrade, randomFrames]);
      await step();
      if (i % 100 === 0 && Date.now() - started > 240_000) break; // bounded in time as well
    }
    const health = await httpCall(`${gw.http}/health`);
    assert.equal(health.status, 200);
    assert.equal(gw.process.exitCode, null);
    const fives = [...statuses].filter(([s]) => s >= 500);
    assert.deepEqual(fives, [], `5xx answers: ${JSON.stringify([...statuses])}`);
    assert.equal(closes.get(1011) ?? 0, 0, `close codes: ${JSON.stringify([...closes])}`);
    assert.deepEqual(
      gw.output.filter((l) => /"level":"(error|fatal)"/.test(l)),
      [],
    );
    const grown = (await rss()) - rssBefore;
    assert.ok(grown < 150 * 1024 * 1024, `resident memory grew by ${Math.round(grown / 1e6)} MB`);
    process.stdout.write(
      `# fuzz: statuses ${JSON.stringify([...statuses].sort((a, b) => a[0] - b[0]))} closes ` +
        `${JSON.stringify([...closes])} rss +${Math.round(grown / 1e6)} MB in ${Date.now() - started} ms\n`,
    );
  });
});
