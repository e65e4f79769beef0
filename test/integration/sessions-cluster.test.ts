import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { KEYS, REDIS_ADDRESS, freePortNumber, uid } from '../helpers/env.js';
import { adminToken, adminUrl, companyToken, spawnGateway, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { TestNatsServer } from '../../support/nats-server.js';
import { TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait.js';
import { timingBound } from '../helpers/timing.js';

/** Pods as separate processes on 127.0.0.2 and 127.0.0.3, sharing the real Redis and a NATS. */
describe('exclusive sessions across pods (docs/protocol.md, *Redis*)', () => {
  let nats: TestNatsServer;
  let redis: Redis;
  let a: ChildGateway;
  let b: ChildGateway;
  const company = uid('c');
  const agent = uid('a');
  const consumer = uid('cons');
  const grpcPort = String(freePortNumber());
  const podEnv = () => ({
    DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
    DAISI_WS_NATS_URL: nats.url,
    DAISI_WS_NATS_CONSUMER_NAME: consumer,
    DAISI_WS_SERVER_GRPC_PORT: grpcPort,
    DAISI_WS_APP_SESSION_TTL_SECONDS: '2',
    DAISI_WS_APP_ROUTE_TTL_SECONDS: '3',
    DAISI_WS_APP_TTL_REFRESH_INTERVAL_SECONDS: '1',
    DAISI_WS_ADAPTIVE_TTL_MESSAGE_ROUTE_ENABLED: 'false',
  });

  before(async () => {
    nats = await TestNatsServer.start();
    redis = new Redis(REDIS_ADDRESS);
    [a, b] = await Promise.all([spawnGateway('127.0.0.2', podEnv()), spawnGateway('127.0.0.3', podEnv())]);
  });
  after(async () => {
    await Promise.all([a, b].map((p) => p?.kill()));
    const stale = await redis.keys(`*${company}*`);
    if (stale.length) await redis.del(...stale);
    redis.disconnect();
    await nats.stop();
  });

  it('a user connecting to pod B closes its session on pod A with SessionConflict / 4402 within 1 s', async () => {
    const user = uid('u');
    const token = companyToken(company, agent, user);
    const onA = await TestClient.ready(userUrl(a.ws, company, agent, token));
    assert.equal(await redis.get(`session:${company}:${agent}:${user}`), '127.0.0.2');
    const started = Date.now();
    const onB = await TestClient.ready(userUrl(b.ws, company, agent, token));
    const conflict = await onA.next((f) => f.type === 'error', 1000);
    assert.equal(conflict.payload.code, 'SessionConflict');
    assert.equal((await onA.closed).code, 4402);
    timingBound(Date.now() - started < 1000, `the conflict took ${Date.now() - started} ms`);
    assert.equal(await redis.get(`session:${company}:${agent}:${user}`), '127.0.0.3');
    onB.send({ type: 'ready', alive: true });
    await onB.next((f) => (f as any).alive === true);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await redis.get(`session:${company}:${agent}:${user}`), '127.0.0.3', 'A released only its own lock');
    await onB.close();
  });

  it('the same for admins', async () => {
    const adminId = uid('adm');
    const token = adminToken({ admin_id: adminId });
    const onA = await TestClient.ready(adminUrl(a.ws, token));
    const onB = await TestClient.ready(adminUrl(b.ws, token));
    assert.equal((await onA.next((f) => f.type === 'error', 1000)).payload.code, 'SessionConflict');
    assert.equal((await onA.closed).code, 4402);
    assert.equal(await redis.get(`session:admin:${adminId}`), '127.0.0.3');
    await onB.close();
    await waitFor(async () => (await redis.get(`session:admin:${adminId}`)) === null);
  });

  it('closing a session removes exactly its own lock and the routes no one else needs', async () => {
    const [u1, u2] = [uid('u'), uid('u')];
    const c1 = await TestClient.ready(userUrl(a.ws, company, agent, companyToken(company, agent, u1)));
    const c2 = await TestClient.ready(userUrl(a.ws, company, agent, companyToken(company, agent, u2)));
    c1.selectChat('chat-1');
    c2.selectChat('chat-2');
    await waitFor(async () => (await redis.sismember(`route:${company}:${agent}:messages:chat-2`, '127.0.0.2')) === 1);
    assert.deepEqual(await redis.smembers(`route:${company}:${agent}:chats`), ['127.0.0.2']);
    assert.ok(Number(await redis.get(`session:${company}:${agent}:${u1}:last_active`)) > Date.now() / 1000 - 5);
    await c1.close();
    await waitFor(async () => (await redis.get(`session:${company}:${agent}:${u1}`)) === null);
    await waitFor(async () => (await redis.sismember(`route:${company}:${agent}:messages:chat-1`, '127.0.0.2')) === 0);
    assert.equal(await redis.get(`session:${company}:${agent}:${u2}`), '127.0.0.2');
    assert.equal(await redis.sismember(`route:${company}:${agent}:messages:chat-2`, '127.0.0.2'), 1);
    assert.equal(
      await redis.sismember(`route:${company}:${agent}:chats`, '127.0.0.2'),
      1,
      'u2 still needs the chat-list route',
    );
    c2.selectChat('chat-3');
    await waitFor(async () => (await redis.sismember(`route:${company}:${agent}:messages:chat-2`, '127.0.0.2')) === 0);
    await c2.close();
    await waitFor(async () => (await redis.sismember(`route:${company}:${agent}:chats`, '127.0.0.2')) === 0);
  });

  it('renewal keeps keys alive past their TTL; after SIGKILL they expire', async () => {
    const user = uid('u');
    const client = await TestClient.ready(userUrl(b.ws, company, agent, companyToken(company, agent, user)));
    client.selectChat('chat-r');
    const sessionKey = `session:${company}:${agent}:${user}`;
    const route = `route:${company}:${agent}:messages:chat-r`;
    await waitFor(async () => (await redis.sismember(route, '127.0.0.3')) === 1);
    await new Promise((r) => setTimeout(r, 4500)); // more than twice the session TTL (2 s)
    assert.equal(await redis.get(sessionKey), '127.0.0.3');
    assert.equal(await redis.sismember(route, '127.0.0.3'), 1);
    await b.kill();
    await waitFor(async () => (await redis.get(sessionKey)) === null, 4000);
    await waitFor(async () => (await redis.exists(route)) === 0, 5000);
    await client.closed;
  });

  it(
    'SIGTERM: every client sees "Service shutting down" and 1001, and ' + "Redis keeps none of the pod's keys",
    async () => {
      const users = [uid('u'), uid('u'), uid('u')];
      const tokens = users.map((u) => companyToken(company, agent, u));
      const clients = await Promise.all(tokens.map((t) => TestClient.ready(userUrl(a.ws, company, agent, t))));
      clients[0]!.selectChat('chat-s');
      const admin = await TestClient.ready(adminUrl(a.ws, adminToken({ admin_id: uid('adm') })));
      await waitFor(
        async () => (await redis.sismember(`route:${company}:${agent}:messages:chat-s`, '127.0.0.2')) === 1,
      );
      const code = await a.stop();
      assert.equal(code, 0);
      for (const c of [...clients, admin]) {
        const frame = await c.next((f) => f.type === 'error');
        assert.equal(frame.payload.message, 'Service shutting down');
        assert.equal((await c.closed).code, 1001);
      }
      for (const u of users) assert.equal(await redis.get(`session:${company}:${agent}:${u}`), null);
      // Tokens and keys never reach a log line (the pod logged at info the whole time).
      const logs = a.output.join('\n');
      assert.ok(logs.includes('"session connected"'));
      assert.ok(!logs.includes(KEYS.client) && !logs.includes('token='), 'no API key or token in the logs');
      for (const t of tokens) assert.ok(!logs.includes(t.slice(0, 24)), 'no token in the logs');
      assert.equal(await redis.sismember(`route:${company}:${agent}:chats`, '127.0.0.2'), 0);
      assert.equal(await redis.sismember(`route:${company}:${agent}:messages:chat-s`, '127.0.0.2'), 0);
    },
  );
});
