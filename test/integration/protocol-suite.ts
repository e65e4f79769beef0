import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { KEYS, REDIS_ADDRESS, uid } from '../helpers/env.js';
import { adminToken, adminUrl, companyToken, startGateway, userUrl, type RunningGateway } from '../helpers/gateway.js';
import { TestClient, refusal } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait.js';

export interface EngineSetup {
  name: string;
  env(): Promise<Record<string, string>>;
  teardown?(): Promise<void>;
  /** A plain Redis client for the cluster engine (to read keys back); undefined when embedded. */
  redis?: boolean;
}

/**
 * The session and protocol behaviour every engine must show (docs/protocol.md, *HTTP*, §4, §9.5–9.7). Run against
 * the embedded engine and against the cluster engine (real Redis and NATS).
 */
export function protocolSuite(setup: EngineSetup): void {
  describe(`sessions and protocol — ${setup.name} engine`, () => {
    let gw: RunningGateway;
    let redis: Redis | undefined;
    const company = uid('c');
    const agent = uid('a');

    before(async () => {
      gw = await startGateway({
        ...(await setup.env()),
        DAISI_WS_APP_MAX_CLIENT_FRAMES_PER_SECOND: '20',
        DAISI_WS_APP_MAX_MESSAGE_SIZE_BYTES: '1024',
        DAISI_WS_SERVER_ALLOWED_ORIGINS: 'https://crm.example.com, *.partner.example',
      });
      if (setup.redis) redis = new Redis(REDIS_ADDRESS);
    });
    after(async () => {
      await gw.stop();
      if (redis) {
        const stale = await redis.keys(`*${company}*`);
        if (stale.length) await redis.del(...stale);
        redis.disconnect();
      }
      await setup.teardown?.();
    });

    it('accepts good credentials with json.v1 and sends ready', async () => {
      const client = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))));
      assert.equal(client.socket.protocol, 'json.v1');
      assert.deepEqual(Object.keys(client.frames[0]!), ['type', 'payload']);
      assert.equal(client.frames[0]!.type, 'ready');
      assert.match(
        client.frames[0]!.payload.epoch,
        /^[\w-]{8,}$/,
        'ready carries the stream epoch (docs/protocol.md, *Resume*)',
      );
      await client.close();
    });

    it('refuses each bad credential with the status and body of docs/protocol.md, *HTTP*', async () => {
      const token = companyToken(company, agent, 'u-bad');
      const base = `${gw.ws}/ws/${company}/${agent}`;
      const cases: Array<[string, number, string, RegExp?]> = [
        [`${base}?token=${token}`, 401, 'InvalidAPIKey', /required/],
        [`${base}?token=${token}&x-api-key=wrong`, 401, 'InvalidAPIKey', /Invalid API key/],
        [`${base}?x-api-key=${KEYS.client}`, 403, 'InvalidToken', /required/],
        [`${base}?token=not-a-token&x-api-key=${KEYS.client}`, 403, 'InvalidToken', /invalid or malformed/],
        [
          userUrl(gw.ws, company, agent, companyToken(company, agent, 'u', -10)),
          403,
          'InvalidToken',
          /^Company token has expired\.$/,
        ],
        [userUrl(gw.ws, company, 'other-agent', token), 403, 'InvalidToken', /does not match/],
        [userUrl(gw.ws, '*', agent, companyToken('*', agent, 'u')), 403, 'InvalidToken', /not acceptable/],
        [userUrl(gw.ws, company, agent, adminToken({ admin_id: 'x' })), 403, 'InvalidToken', /invalid or malformed/],
        [
          adminUrl(gw.ws, adminToken({ admin_id: 'x', subscribed_company_id: 'c2', company_id_restriction: 'c1' })),
          403,
          'InvalidToken',
          /not acceptable/,
        ],
        [adminUrl(gw.ws, adminToken({ admin_id: 'x' }, -5)), 403, 'InvalidToken', /^Admin token has expired\.$/],
      ];
      for (const [url, status, code, message] of cases) {
        const r = await refusal(url);
        assert.equal(r.status, status, url);
        assert.equal(r.body.code, code, url);
        if (message) assert.match(r.body.message, message, url);
        assert.ok(r.requestId, 'refusals carry X-Request-ID');
        // A client that offers json.v2 (the SDK) gets the same refusal in band, where a browser can read it.
        const v2 = await TestClient.open(url, {}, ['json.v2', 'json.v1']);
        assert.equal(v2.socket.protocol, 'json.v2');
        const closed = await v2.closed;
        assert.equal(closed.code, status === 401 ? 4401 : 4403, url);
        assert.deepEqual(
          v2.frames.map((f) => [f.type, f.payload.code]),
          [['error', code]],
          `${url}: one error frame, then the close`,
        );
        if (message) assert.match(v2.frames[0]!.payload.message, message, url);
      }
      const viaHeader = await TestClient.open(`${base}?token=${token}`, { headers: { 'X-API-Key': KEYS.client } });
      await viaHeader.next((f) => f.type === 'ready');
      await viaHeader.close();
    });

    it('json.v2: select_chat is answered with chat_selected and its start; json.v1 gets no such frame', async () => {
      const v2 = await TestClient.open(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))), {}, [
        'json.v2',
        'json.v1',
      ]);
      await v2.next((f) => f.type === 'ready');
      v2.selectChat('chat-v2');
      const selected = await v2.next((f) => f.type === 'chat_selected');
      assert.equal(selected.payload.chat_id, 'chat-v2');
      assert.ok(Number.isSafeInteger(selected.payload.since) && selected.payload.since >= 0, 'since is a sequence');
      const v1 = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))));
      v1.selectChat('chat-v1');
      v1.send({ type: 'ready', payload: { marker: 'after-select' } });
      await v1.next((f) => f.type === 'ready' && f.payload?.marker === 'after-select');
      assert.deepEqual(
        v1.frames.map((f) => f.type),
        ['ready', 'ready'],
        'a Go client sees only what it always saw',
      );
      await Promise.all([v1.close(), v2.close()]);
    });

    it('a page on another origin is refused (403 E4003) unless server.allowed_origins names it or its domain', async () => {
      const url = () => userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u')));
      for (const origin of ['https://evil.example', 'http://crm.example.com', 'https://partner.example.evil']) {
        const r = await refusal(url(), { Origin: origin });
        assert.deepEqual([r.status, r.body.code], [403, 'E4003'], origin);
      }
      for (const origin of [
        'https://crm.example.com',
        'https://app.partner.example',
        'http://a.b.partner.example:8080',
        gw.http,
      ]) {
        const client = await TestClient.open(url(), { origin });
        await client.next((f) => f.type === 'ready');
        await client.close();
      }
    });

    it('answers bad frames with error frames and echoes ready unchanged', async () => {
      const client = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))));
      client.send('{not json');
      const invalid = await client.next((f) => f.type === 'error');
      assert.deepEqual([invalid.payload.code, invalid.payload.message], ['BadRequest', 'Invalid message format']);
      client.send({ type: 'dance' });
      const unknown = await client.next((f) => f.type === 'error' && f.payload.message === 'Unhandled message type');
      assert.equal(unknown.payload.details, 'Type: dance');
      client.send({ type: 'ready', payload: { hello: [1, 2] }, extra: 'kept' });
      const echo = await client.next((f) => f.type === 'ready' && (f as any).extra === 'kept');
      assert.deepEqual(echo, { type: 'ready', payload: { hello: [1, 2] }, extra: 'kept' });
      for (const payload of [undefined, 'x', {}, { chat_id: 5 }, { chat_id: 'a.b' }, { chat_id: 'a b' }]) {
        const before = client.frames.length;
        client.send({ type: 'select_chat', payload });
        const err = await client.next((f) => f.type === 'error' && client.frames.indexOf(f) >= before);
        assert.equal(err.payload.code, 'BadRequest', JSON.stringify(payload));
        assert.equal(err.payload.message, 'Invalid select_chat payload');
      }
      client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
      client.send({ type: 'ready' });
      await client.next((f) => f.type === 'ready' && client.frames.filter((x) => x.type === 'ready').length >= 3);
      await client.close();
    });

    it('closes with 1009 on a frame over the size limit', async () => {
      const client = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))));
      client.send({ type: 'ready', pad: 'x'.repeat(2000) });
      assert.equal((await client.closed).code, 1009);
    });

    it('rate-limits: RateLimitExceeded first, close 4429 if it keeps on', async () => {
      const client = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))));
      for (let i = 0; i < 25; i++) client.send({ type: 'ready', i });
      const limited = await client.next((f) => f.type === 'error' && f.payload.code === 'RateLimitExceeded');
      assert.match(limited.payload.details, /20 frames per second/);
      for (let i = 0; i < 30; i++) client.send({ type: 'ready', i });
      assert.equal((await client.closed).code, 4429);
    });

    it('a second connection of the same user closes the first with SessionConflict (docs/compat.md #5)', async () => {
      const user = uid('u');
      const token = companyToken(company, agent, user);
      const first = await TestClient.ready(userUrl(gw.ws, company, agent, token));
      const second = await TestClient.ready(userUrl(gw.ws, company, agent, token));
      const conflict = await first.next((f) => f.type === 'error');
      assert.equal(conflict.payload.code, 'SessionConflict');
      assert.equal((await first.closed).code, 4402);
      second.send({ type: 'ready', still: 'open' });
      await second.next((f) => (f as any).still === 'open');
      if (redis) {
        // The replaced connection's close must not release the new owner's lock.
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(await redis.get(`session:${company}:${agent}:${user}`), gw.gateway.engine.podId);
      }
      await second.close();
      if (redis) {
        await waitFor(async () => (await redis!.get(`session:${company}:${agent}:${user}`)) === null);
      }
    });

    it('admins: second connection closes the first, patterns are accepted', async () => {
      const adminId = uid('adm');
      const token = adminToken({ admin_id: adminId, subscribed_company_id: company });
      const first = await TestClient.ready(adminUrl(gw.ws, token));
      const second = await TestClient.ready(adminUrl(gw.ws, token));
      assert.equal((await first.closed).code, 4402);
      assert.equal((await first.next((f) => f.type === 'error')).payload.code, 'SessionConflict');
      if (redis) assert.equal(await redis.get(`session:admin:${adminId}`), gw.gateway.engine.podId);
      await second.close();
    });
  });
}
