import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { REDIS_ADDRESS, freePortNumber, uid } from '../helpers/env.js';
import { companyToken, spawnGateway, startGateway, userUrl, type ChildGateway, type RunningGateway } from '../helpers/gateway.js';
import { TestNatsServer } from '../helpers/nats-server.js';
import { TestPublisher, event } from '../helpers/publisher.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';
import { waitFor } from './protocol-suite.js';

const ids = (frames: Frame[]) => frames.map((f) => f.payload.event_id as string);

describe('a pod dies mid-stream', () => {
  let nats: TestNatsServer;
  let pub: TestPublisher;
  let redis: Redis;
  const pods = new Map<string, ChildGateway>();
  const stream = uid('stream');
  const consumer = uid('cons');
  const company = uid('c');
  const agent = uid('a');
  const lease = `dws_consumer_lease:${stream}:${consumer}`;
  const env = {
    DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
    DAISI_WS_NATS_STREAM_NAME: stream,
    DAISI_WS_NATS_CONSUMER_NAME: consumer,
    DAISI_WS_SERVER_GRPC_PORT: String(freePortNumber()),
    DAISI_WS_APP_NATS_ACK_WAIT_SECONDS: '3',
    DAISI_WS_APP_CONSUMER_LEADER_TTL_SECONDS: '2',
    DAISI_WS_APP_GRPC_CIRCUITBREAKER_OPEN_DURATION_SECONDS: '30',
    DAISI_WS_APP_GRPC_CLIENT_FORWARD_TIMEOUT_SECONDS: '1',
    DAISI_WS_APP_SESSION_TTL_SECONDS: '3',
    DAISI_WS_APP_TTL_REFRESH_INTERVAL_SECONDS: '1',
  };
  const start = async (host: string) => pods.set(host, await spawnGateway(host, { ...env, DAISI_WS_NATS_URL: nats.url }));

  before(async () => {
    nats = await TestNatsServer.start();
    redis = new Redis(REDIS_ADDRESS);
    for (const host of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) await start(host);
    pub = await TestPublisher.connect(nats.url);
    await pub.waitForStream(stream);
    await waitFor(async () => (await redis.get(lease)) !== null);
  });
  after(async () => {
    await Promise.all([...pods.values()].map((p) => p.kill()));
    await pub.close();
    await redis.del(...(await redis.keys(`*${company}*`)), lease);
    redis.disconnect();
    await nats.stop();
  });

  it('clients elsewhere get every event, in order, while a target pod is killed and restarted, and while the routing pod fails over', async () => {
    const leader = (await redis.get(lease))!;
    const [victim, survivor] = [...pods.keys()].filter((h) => h !== leader);
    const token = (u: string) => companyToken(company, agent, u);
    const stays = await TestClient.ready(userUrl(pods.get(survivor!)!.ws, company, agent, token('stays')));
    const onLeader = await TestClient.ready(userUrl(pods.get(leader)!.ws, company, agent, token('on-leader')));
    let doomed = await TestClient.ready(userUrl(pods.get(victim!)!.ws, company, agent, token('doomed')));
    for (const c of [stays, onLeader, doomed]) c.selectChat('k');
    await waitFor(async () => (await redis.scard(`route:${company}:${agent}:messages:k`)) === 3);

    let published = 0;
    const publishSome = async (n: number) => {
      for (let i = 0; i < n; i++, published++) {
        await pub.publish(`wa.${company}.${agent}.messages.k`, event(`k-${published}`));
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await publishSome(50);
    await pods.get(victim!)!.kill(); // a target pod dies
    await publishSome(100);
    await start(victim!); // and comes back; its user reconnects
    doomed = await TestClient.ready(userUrl(pods.get(victim!)!.ws, company, agent, token('doomed')));
    doomed.selectChat('k');
    await waitFor(async () => (await redis.sismember(`route:${company}:${agent}:messages:k`, victim!)) === 1);
    await new Promise((r) => setTimeout(r, 100));
    const firstAfterRestart = published;
    await publishSome(50);
    // Its rejoin reset the open circuit (30 s): it gets events at once, not after the circuit closes.
    await waitFor(() => ids(doomed.events()).includes(`k-${firstAfterRestart + 49}`), 5000);
    await pods.get(leader)!.kill(); // the pod routing the shared consumers dies too
    await publishSome(100);

    const expected = Array.from({ length: published }, (_, i) => `k-${i}`);
    const got = ids(await stays.waitEvents(published, 20_000));
    assert.deepEqual([...new Set(got)].sort(), [...expected].sort(), 'nothing lost for the client that stayed connected');
    assert.equal(got.length, published, 'nothing duplicated');
    assert.deepEqual(got.slice(0, 150), expected.slice(0, 150), 'in order while a target pod was down');
    assert.notEqual(await redis.get(lease), leader, 'another pod took the lease');
    await stays.close();
    await doomed.close();
    void onLeader;
  });
});

describe('a burst while a target pod is dead', () => {
  let nats: TestNatsServer;
  let pub: TestPublisher;
  let redis: Redis;
  const pods: ChildGateway[] = [];
  const stream = uid('stream');
  const consumer = uid('cons');
  const company = uid('c');
  const agent = uid('a');

  before(async () => {
    nats = await TestNatsServer.start();
    redis = new Redis(REDIS_ADDRESS);
    const env = {
      DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
      DAISI_WS_NATS_URL: nats.url,
      DAISI_WS_NATS_STREAM_NAME: stream,
      DAISI_WS_NATS_CONSUMER_NAME: consumer,
      DAISI_WS_SERVER_GRPC_PORT: String(freePortNumber()),
      DAISI_WS_APP_NATS_MAX_ACK_PENDING: '200',
    };
    pods.push(await spawnGateway('127.0.0.2', env));
    await waitFor(async () => (await redis.get(`dws_consumer_lease:${stream}:${consumer}`)) === '127.0.0.2');
    pods.push(await spawnGateway('127.0.0.3', env));
    pub = await TestPublisher.connect(nats.url);
  });
  after(async () => {
    await Promise.all(pods.map((p) => p.kill()));
    await pub.close();
    await redis.del(...(await redis.keys(`*${company}*`)), `dws_consumer_lease:${stream}:${consumer}`);
    redis.disconnect();
    await nats.stop();
  });

  it('does not stall the stream: events for the dead pod are not held back once its circuit is open', async () => {
    const stays = await TestClient.ready(userUrl(pods[0]!.ws, company, agent, companyToken(company, agent, 'stays')));
    const lost = await TestClient.ready(userUrl(pods[1]!.ws, company, agent, companyToken(company, agent, 'lost')));
    await waitFor(async () => (await redis.scard(`route:${company}:${agent}:chats`)) === 2);
    await pods[1]!.kill();
    void lost;
    // Far more events than nats_max_ack_pending (200): held back for the dead pod, they would stall everything.
    const sends = Array.from({ length: 1000 }, (_, i) => pub.publish(`wa.${company}.${agent}.chats`, event(`b-${i}`)));
    await Promise.all(sends);
    const got = ids(await stays.waitEvents(1000, 15_000));
    assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => `b-${i}`));
    await stays.close();
  });
});

describe('NATS restarts under a running pod', () => {
  let nats: TestNatsServer;
  let gw: RunningGateway;
  let pub: TestPublisher;
  const company = uid('c');
  const agent = uid('a');

  before(async () => {
    nats = await TestNatsServer.start();
    gw = await startGateway({
      DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
      DAISI_WS_NATS_URL: nats.url,
      DAISI_WS_NATS_CONSUMER_NAME: uid('cons'),
      DAISI_WS_NATS_RECONNECT_WAIT_SECONDS: '1',
      DAISI_WS_SERVER_POD_ID: '127.0.0.1',
      DAISI_WS_APP_CONSUMER_LEADER_TTL_SECONDS: '2',
    });
    pub = await TestPublisher.connect(nats.url);
  });
  after(async () => {
    await gw.stop();
    await pub.close();
    await nats.stop();
  });

  it('reports NATS down on /ready while it is down, reconnects by itself and delivers what is published after', async () => {
    const client = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))));
    await pub.publish(`wa.${company}.${agent}.chats`, event('before'));
    await client.waitEvents(1);
    await nats.kill();
    await waitFor(async () => (await fetch(`${gw.http}/ready`)).status === 503, 5000);
    const down = await (await fetch(`${gw.http}/ready`)).json();
    assert.equal(down.status, 'NOT_READY');
    assert.equal(down.dependencies.nats, 'disconnected');
    await nats.run();
    await waitFor(async () => (await fetch(`${gw.http}/ready`)).status === 200, 15_000);
    await waitFor(async () => {
      await pub.publish(`wa.${company}.${agent}.chats`, event(`after-${Date.now()}`)).catch(() => 0);
      return client.events().length >= 2;
    }, 20_000);
    assert.equal(ids(client.events())[0], 'before');
    await client.close();
  });
});
