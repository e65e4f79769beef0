import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { REDIS_ADDRESS, freePortNumber, uid } from '../helpers/env.js';
import { adminToken, adminUrl, companyToken, spawnGateway, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { TestNatsServer } from '../helpers/nats-server.js';
import { TestPublisher, event } from '../helpers/publisher.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';
import { waitFor } from './protocol-suite.js';

const ids = (frames: Frame[]) => frames.map((f) => f.payload.event_id as string);

/** Event delivery through NATS JetStream and gRPC between pods (SPEC §1, §6, §9.1–9.4, §9.8). */
describe('event delivery — cluster of three pods', () => {
  let nats: TestNatsServer;
  let pub: TestPublisher;
  let redis: Redis;
  let pods: ChildGateway[];
  const stream = uid('stream');
  const consumer = uid('cons');
  const company = uid('c');
  const agent = uid('a');
  const grpcPort = String(freePortNumber());
  const env = () => ({
    DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
    DAISI_WS_NATS_URL: nats.url,
    DAISI_WS_NATS_STREAM_NAME: stream,
    DAISI_WS_NATS_CONSUMER_NAME: consumer,
    DAISI_WS_SERVER_GRPC_PORT: grpcPort,
    DAISI_WS_SERVER_ENABLE_REFLECTION: 'true',
    DAISI_WS_APP_NATS_ACK_WAIT_SECONDS: '3',
    DAISI_WS_APP_CONSUMER_LEADER_TTL_SECONDS: '2',
    DAISI_WS_APP_GRPC_CIRCUITBREAKER_OPEN_DURATION_SECONDS: '2',
    DAISI_WS_APP_SESSION_TTL_SECONDS: '3',
    DAISI_WS_APP_TTL_REFRESH_INTERVAL_SECONDS: '1',
  });
  const user = (pod: ChildGateway, u = uid('u'), ag = agent) => TestClient.ready(userUrl(pod.ws, company, ag, companyToken(company, ag, u)));

  before(async () => {
    nats = await TestNatsServer.start();
    redis = new Redis(REDIS_ADDRESS);
    pods = [];
    for (const host of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) pods.push(await spawnGateway(host, env()));
    pub = await TestPublisher.connect(nats.url);
    await pub.waitForStream(stream);
    // The first pod holds the lease on the shared consumers.
    await waitFor(async () => (await redis.get(`dws_consumer_lease:${stream}:${consumer}`)) !== null);
  });
  after(async () => {
    await Promise.all(pods.map((p) => p.kill()));
    await pub.close();
    const stale = [...(await redis.keys(`*${company}*`)), `dws_consumer_lease:${stream}:${consumer}`];
    await redis.del(...stale);
    redis.disconnect();
    await nats.stop();
  });

  it('admins get the agent events their patterns match, never outside their restriction', async () => {
    const other = uid('c');
    const all = await TestClient.ready(adminUrl(pods[0]!.ws, adminToken({ admin_id: uid('adm') })));
    const byCompany = await TestClient.ready(adminUrl(pods[1]!.ws, adminToken({ admin_id: uid('adm'), subscribed_company_id: company })));
    const byAgent = await TestClient.ready(adminUrl(pods[2]!.ws, adminToken({ admin_id: uid('adm'), subscribed_agent_id: 'a2' })));
    const restricted = await TestClient.ready(adminUrl(pods[2]!.ws, adminToken({ admin_id: uid('adm'), company_id_restriction: other })));
    await new Promise((r) => setTimeout(r, 300));
    await pub.publish(`wa.${company}.a1.agents`, event('e1'));
    await pub.publish(`wa.${company}.a2.agents`, event('e2'));
    await pub.publish(`wa.${other}.a2.agents`, event('e3'));
    await all.waitEvents(3);
    await byCompany.waitEvents(2);
    await byAgent.waitEvents(2);
    await restricted.waitEvents(1);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(ids(all.events()), ['e1', 'e2', 'e3']);
    assert.deepEqual(ids(byCompany.events()), ['e1', 'e2']);
    assert.deepEqual(ids(byAgent.events()), ['e2', 'e3']);
    assert.deepEqual(ids(restricted.events()), ['e3']);
    await Promise.all([all, byCompany, byAgent, restricted].map((c) => c.close()));
  });

  it('three pods: 1,000 chat events and 1,000 chat-list events reach every intended client exactly once, in order', async () => {
    const viewerA = await user(pods[0]!);
    const viewerB = await user(pods[1]!);
    const listOnlyC = await user(pods[2]!);
    const stranger = await user(pods[2]!, uid('u'), uid('other-agent'));
    viewerA.selectChat('hot');
    viewerB.selectChat('hot');
    listOnlyC.selectChat('cold');
    await waitFor(async () => (await redis.scard(`route:${company}:${agent}:messages:hot`)) === 2);
    await waitFor(async () => (await redis.scard(`route:${company}:${agent}:chats`)) === 3);
    const sends: Array<Promise<number>> = [];
    for (let i = 0; i < 1000; i++) {
      sends.push(pub.publish(`wa.${company}.${agent}.messages.hot`, event(`m-${i}`, { chat_id: 'hot' })));
      sends.push(pub.publish(`wa.${company}.${agent}.chats`, event(`c-${i}`)));
    }
    await Promise.all(sends);
    const messages = Array.from({ length: 1000 }, (_, i) => `m-${i}`);
    const chats = Array.from({ length: 1000 }, (_, i) => `c-${i}`);
    for (const viewer of [viewerA, viewerB]) {
      const got = ids(await viewer.waitEvents(2000, 30_000));
      assert.deepEqual(got.filter((id) => id.startsWith('m-')), messages);
      assert.deepEqual(got.filter((id) => id.startsWith('c-')), chats);
    }
    assert.deepEqual(ids(await listOnlyC.waitEvents(1000, 30_000)), chats);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(viewerA.events().length, 2000);
    assert.equal(listOnlyC.events().length, 1000);
    assert.equal(stranger.events().length, 0);
    await Promise.all([viewerA, viewerB, listOnlyC, stranger].map((c) => c.close()));
  });

  it('a session that selects a chat on another pod gets the very next event (route joins are announced)', async () => {
    const first = await user(pods[1]!);
    first.selectChat('warm');
    await waitFor(async () => (await redis.sismember(`route:${company}:${agent}:messages:warm`, '127.0.0.3')) === 1);
    await pub.publish(`wa.${company}.${agent}.messages.warm`, event('w-1')); // the routing pod caches the set now
    await first.waitEvents(1);
    const late = await user(pods[2]!);
    late.selectChat('warm');
    await waitFor(async () => (await redis.sismember(`route:${company}:${agent}:messages:warm`, '127.0.0.4')) === 1);
    await new Promise((r) => setTimeout(r, 50)); // the announcement travels through Redis pub/sub
    await pub.publish(`wa.${company}.${agent}.messages.warm`, event('w-2'));
    assert.deepEqual(ids(await late.waitEvents(1, 3000)), ['w-2']);
    assert.deepEqual(ids(await first.waitEvents(2)), ['w-1', 'w-2']);
    await Promise.all([first.close(), late.close()]);
  });

  it('the number of JetStream consumers does not grow with connections', async () => {
    const ten = await Promise.all(Array.from({ length: 10 }, (_, i) => user(pods[i % 3]!)));
    const withTen = await pub.consumerCount(stream);
    const more = await Promise.all(Array.from({ length: 190 }, (_, i) => user(pods[i % 3]!)));
    for (const [i, c] of more.entries()) if (i % 7 === 0) c.selectChat(`chat-${i}`);
    await new Promise((r) => setTimeout(r, 300));
    const withTwoHundred = await pub.consumerCount(stream);
    assert.equal(withTwoHundred, withTen);
    assert.equal(withTen, 2 + 3, 'two shared durables and one ordered consumer per pod');
    await Promise.all([...ten, ...more].map((c) => c.close()));
  });
});
