import assert from 'node:assert/strict';
import { get } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { parseCompanyClaims, parseAdminClaims } from '../../src/domain/claims.js';
import { openToken, parseAesKey } from '../../src/domain/token-crypto.js';
import WebSocket from 'ws';
import { KEYS } from '../helpers/env.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';

async function call(gw: RunningGateway, path: string, init: RequestInit & { json?: unknown } = {}) {
  const headers = new Headers(init.headers);
  if (init.json !== undefined) headers.set('Content-Type', 'application/json');
  const res = await fetch(`${gw.http}${path}`, {
    ...init,
    headers,
    body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // metrics are text
  }
  return { status: res.status, body, headers: res.headers };
}

const companyBody = { company_id: 'c1', agent_id: 'a1', user_id: 'u1', expires_in_seconds: 60 };

describe('HTTP surface (docs/protocol.md, *HTTP*)', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.stop());

  it('GET /health answers OK with a request id, echoing a given one', async () => {
    const r = await call(gw, '/health');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status: 'OK' });
    assert.match(r.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const echoed = await call(gw, '/health', { headers: { 'X-Request-ID': 'req-42' } });
    assert.equal(echoed.headers.get('x-request-id'), 'req-42');
  });

  it('GET /ready in embedded mode: no gRPC server unless asked for (SECURITY.md, *Limits*)', async () => {
    const r = await call(gw, '/ready');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status: 'READY', dependencies: { nats: 'embedded', redis: 'embedded' } });
    assert.equal(gw.gateway.grpcPort(), 0);
  });

  it("GET /metrics lists every metric of docs/protocol.md, *Metrics*, and none of Go's forwarding", async () => {
    const r = await call(gw, '/metrics');
    assert.equal(r.status, 200);
    const names = [
      'dws_active_connections gauge',
      'dws_connections_total counter',
      'dws_connection_duration_seconds histogram',
      'dws_messages_received_total counter',
      'dws_messages_sent_total counter',
      'dws_auth_success_total counter',
      'dws_auth_failure_total counter',
      'dws_session_conflicts_total counter',
      'dws_nats_messages_received_total counter',
      'dws_grpc_messages_received_total counter',
      'dws_session_lock_attempts_total counter',
      'dws_session_lock_success_total counter',
      'dws_session_lock_failure_total counter',
      'dws_websocket_buffer_used_count gauge',
      'dws_websocket_buffer_capacity_count gauge',
      'dws_websocket_messages_dropped_total counter',
      'dws_websocket_slow_clients_disconnected_total counter',
      'dws_redis_ttl_calculated_seconds histogram',
      'dws_redis_ttl_decision_total counter',
      'dws_redis_activity_age_seconds histogram',
      'dws_session_lock_renewal_attempts_total counter',
      'dws_session_lock_renewal_success_total counter',
      'dws_session_lock_renewal_failure_total counter',
    ];
    for (const name of names) assert.ok(r.body.includes(`# TYPE ${name}\n`), name);
    // The Go service's forwarding metrics would read 0 forever on a pod that forwards nothing.
    assert.doesNotMatch(r.body, /dws_grpc_(messages_sent|forward_retry|pool|circuitbreaker)/);
    assert.ok(r.body.includes('dws_connection_duration_seconds_bucket{le="0.1"} 0'));
    assert.ok(r.body.includes('dws_connection_duration_seconds_bucket{le="1638.4"} 0'));
  });

  it('POST /generate-token mints a token that opens with the Go algorithm', async () => {
    const r = await call(gw, '/generate-token', {
      method: 'POST',
      headers: { 'X-API-Key': KEYS.client },
      json: companyBody,
    });
    assert.equal(r.status, 200);
    const claims = parseCompanyClaims(openToken(parseAesKey(KEYS.aes), r.body.token));
    assert.deepEqual([claims.companyId, claims.agentId, claims.userId], ['c1', 'a1', 'u1']);
    assert.ok(Math.abs(claims.expiresAt.ms - (Date.now() + 60_000)) < 5000);
    const viaQuery = await call(gw, `/generate-token?x-api-key=${KEYS.client}`, { method: 'POST', json: companyBody });
    assert.equal(viaQuery.status, 200);
  });

  it('POST /generate-token refuses missing and wrong keys and bad bodies', async () => {
    const missing = await call(gw, '/generate-token', { method: 'POST', json: companyBody });
    assert.equal(missing.status, 401);
    assert.equal(missing.body.code, 'InvalidAPIKey');
    assert.equal(missing.body.message, 'API key is required');
    const wrong = await call(gw, '/generate-token', {
      method: 'POST',
      headers: { 'X-API-Key': 'nope' },
      json: companyBody,
    });
    assert.deepEqual([wrong.status, wrong.body.code, wrong.body.message], [401, 'InvalidAPIKey', 'Invalid API key']);
    const cases: Array<[unknown, RegExp]> = [
      [{ ...companyBody, user_id: '' }, /required/],
      [{ ...companyBody, expires_in_seconds: 0 }, /positive/],
      [{ ...companyBody, company_id: '*' }, /company_id must not contain/],
      [{ ...companyBody, user_id: 'a:b' }, /user_id must not contain/],
      [[1, 2], /JSON object/],
    ];
    for (const [json, details] of cases) {
      const r = await call(gw, '/generate-token', { method: 'POST', headers: { 'X-API-Key': KEYS.client }, json });
      assert.equal(r.status, 400, JSON.stringify(json));
      assert.equal(r.body.code, 'BadRequest');
      assert.match(r.body.details, details);
    }
    const notJson = await call(gw, '/generate-token', {
      method: 'POST',
      headers: { 'X-API-Key': KEYS.client },
      body: '{nope',
    });
    assert.deepEqual(
      [notJson.status, notJson.body.code, notJson.body.message],
      [400, 'BadRequest', 'Invalid request payload'],
    );
  });

  it('POST /admin/generate-token: 401 E4001 without key, 403 E4003 with a wrong one, 200 with it', async () => {
    const body = { admin_id: 'adm', expires_in_seconds: 60, company_id_restriction: 'c1' };
    const missing = await call(gw, '/admin/generate-token', { method: 'POST', json: body });
    assert.deepEqual([missing.status, missing.body.code], [401, 'E4001']);
    const wrong = await call(gw, '/admin/generate-token', {
      method: 'POST',
      headers: { 'X-API-Key': KEYS.client },
      json: body,
    });
    assert.deepEqual([wrong.status, wrong.body.code], [403, 'E4003']);
    const ok = await call(gw, '/admin/generate-token', {
      method: 'POST',
      headers: { 'X-API-Key': KEYS.admin },
      json: body,
    });
    assert.equal(ok.status, 200);
    const claims = parseAdminClaims(openToken(parseAesKey(KEYS.adminAes), ok.body.token));
    assert.deepEqual([claims.adminId, claims.companyIdRestriction], ['adm', 'c1']);
    const contradiction = await call(gw, '/admin/generate-token', {
      method: 'POST',
      headers: { 'X-API-Key': KEYS.admin },
      json: { ...body, subscribed_company_id: 'c2' },
    });
    assert.equal(contradiction.status, 400);
    assert.match(contradiction.body.details, /contradicts company_id_restriction/);
  });

  it('pages carry a Content-Security-Policy without inline script, and the usual headers; the favicon is there', async () => {
    for (const path of ['/', '/admin']) {
      const r = await call(gw, path);
      assert.equal(r.status, 200, path);
      const csp = r.headers.get('content-security-policy') ?? '';
      assert.match(csp, /script-src 'self';/, path);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(r.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer', path);
      assert.doesNotMatch(String(r.body), /<script(?![^>]*\bsrc=)[^>]*>/, `${path}: no inline script`);
    }
    const icon = await call(gw, '/favicon.ico');
    assert.deepEqual([icon.status, icon.headers.get('content-type')], [200, 'image/svg+xml']);
  });

  it('serves the SDK module compressed when the client accepts it (brotli, else gzip), as it is otherwise', async () => {
    const raw = (encoding?: string) =>
      new Promise<{ body: Buffer; headers: Record<string, unknown> }>((resolve, reject) => {
        get(`${gw.http}/daisi-ws-client.js`, { headers: encoding ? { 'Accept-Encoding': encoding } : {} }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ body: Buffer.concat(chunks), headers: res.headers }));
        }).on('error', reject);
      });
    const plain = await raw();
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.match(plain.body.toString(), /DaisiClient/);
    const br = await raw('gzip, deflate, br');
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.headers.vary, 'Accept-Encoding');
    assert.deepEqual(brotliDecompressSync(br.body), plain.body);
    assert.ok(br.body.length < plain.body.length / 2, `${br.body.length} of ${plain.body.length} bytes`);
    const gz = await raw('gzip, br;q=0');
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.deepEqual(gunzipSync(gz.body), plain.body);
  });

  it('answers a wrong method with 405 E4005 and an unknown path with 404', async () => {
    const r = await call(gw, '/generate-token');
    assert.deepEqual([r.status, r.body.code], [405, 'E4005']);
    const p = await call(gw, '/health', { method: 'POST' });
    assert.deepEqual([p.status, p.body.code], [405, 'E4005']);
    const nf = await call(gw, '/nope');
    assert.deepEqual([nf.status, nf.body.code], [404, 'NotFound']);
  });

  it(
    'POST /api/publish applies the id rules to every form: wildcards, separators, spaces and long ids are 400 ' +
      '(SECURITY.md, *Limits*)',
    async () => {
      const admin = { 'X-API-Key': KEYS.admin };
      for (const subject of [
        'wa.*.a1.chats',
        'wa.c1.a1.messages.>',
        'wa.c:1.a1.chats',
        'wa.c 1.a1.chats',
        `wa.${'x'.repeat(300)}.a1.chats`,
        'wa.c1.a1.messages',
      ]) {
        const r = await call(gw, '/api/publish', {
          method: 'POST',
          headers: admin,
          json: { subject, event: { n: 1 } },
        });
        assert.deepEqual([r.status, r.body.code], [400, 'BadRequest'], subject);
      }
      const kind = await call(gw, '/api/publish', {
        method: 'POST',
        headers: admin,
        json: { company_id: 'c 1', agent_id: 'a1', kind: 'chats', event: {} },
      });
      assert.deepEqual([kind.status, kind.body.code], [400, 'BadRequest']);
      const ok = await call(gw, '/api/publish', {
        method: 'POST',
        headers: admin,
        json: { subject: 'wa.c1.a1.messages.k1', event: { n: 1 } },
      });
      assert.equal(ok.status, 200);
    },
  );

  it('a body over the limit gets 413 PayloadTooLarge, with or without Content-Length', async () => {
    const big = JSON.stringify({
      company_id: 'c',
      agent_id: 'a',
      user_id: 'u',
      expires_in_seconds: 60,
      pad: 'x'.repeat(1024 * 1024),
    });
    const declared = await call(gw, '/generate-token', {
      method: 'POST',
      headers: { 'X-API-Key': KEYS.client, 'Content-Type': 'application/json' },
      body: big,
    });
    assert.deepEqual([declared.status, declared.body.code], [413, 'PayloadTooLarge']);
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const chunked = await call(gw, '/admin/generate-token', {
      method: 'POST',
      headers: { 'X-API-Key': KEYS.admin },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    assert.deepEqual([chunked.status, chunked.body.code], [413, 'PayloadTooLarge']);
  });

  it('the 101 of a WebSocket upgrade carries X-Request-ID', async () => {
    const token = (
      await call(gw, '/generate-token', { method: 'POST', headers: { 'X-API-Key': KEYS.client }, json: companyBody })
    ).body.token;
    const socket = new WebSocket(
      `${gw.ws}/ws/c1/a1?token=${encodeURIComponent(token)}&x-api-key=${KEYS.client}`,
      ['json.v1'],
      { headers: { 'X-Request-ID': 'req-upgrade-7' } },
    );
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      socket.once('upgrade', (res) => resolve(res.headers));
      socket.once('error', reject);
    });
    assert.equal(headers['x-request-id'], 'req-upgrade-7');
    socket.close();
  });
});

describe('auth.token_generation_secret (docs/compat.md #10)', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ DAISI_WS_AUTH_TOKEN_GENERATION_SECRET: 'server-side-secret' });
  });
  after(() => gw.stop());

  it('replaces the browser-visible client key for minting', async () => {
    const withClientKey = await call(gw, '/generate-token', {
      method: 'POST',
      headers: { 'X-API-Key': KEYS.client },
      json: companyBody,
    });
    assert.equal(withClientKey.status, 401);
    const withSecret = await call(gw, '/generate-token', {
      method: 'POST',
      headers: { 'X-API-Key': 'server-side-secret' },
      json: companyBody,
    });
    assert.equal(withSecret.status, 200);
  });
});

describe('secrets not configured', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ DAISI_WS_AUTH_SECRET_TOKEN: '', DAISI_WS_AUTH_TOKEN_AES_KEY: '' });
  });
  after(() => gw.stop());

  it('answer 500', async () => {
    const r = await call(gw, '/generate-token', { method: 'POST', headers: { 'X-API-Key': 'x' }, json: companyBody });
    assert.deepEqual([r.status, r.body.code], [500, 'InternalServerError']);
  });
});
