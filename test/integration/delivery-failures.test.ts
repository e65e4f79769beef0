import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { REDIS_ADDRESS, freePortNumber, uid } from '../helpers/env.js';
import { companyToken, startGateway, userUrl, type ChildGateway, type RunningGateway } from '../helpers/gateway.js';
import { useFleet } from '../helpers/fleet.js';
import { assertReceived, expectedFor, publishLoad, waitForEvents } from '../helpers/load.js';
import { TestNatsServer, waitForPort } from '../../support/nats-server.js';
import { TestPublisher, event } from '../helpers/publisher.js';
import { TestRedisServer } from '../../support/redis-server.js';
import { TestClient, refusal, type Frame } from '../helpers/ws-client.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { timingBound } from '../helpers/timing.js';

const ids = (frames: Frame[]) => frames.map((f) => f.payload.event_id as string);

/**
 * docs/architecture.md, *How an event travels*: no pod depends on another pod, or on Redis, to deliver to its own
 * sessions. Under a steady load: Redis is killed and comes back empty, one pod is paused, another is killed.
 */
describe('faults under load: Redis killed and restarted empty, a pod paused, a pod killed', () => {
  let redisServer: TestRedisServer;
  const fleet = useFleet(['127.0.0.2', '127.0.0.3', '127.0.0.4'], {
    setUp: async () => {
      redisServer = await TestRedisServer.start();
    },
    redis: () => redisServer.address,
    env: { DAISI_WS_APP_TTL_REFRESH_INTERVAL_SECONDS: '1' },
    tearDown: () => redisServer.kill(),
  });
  const company = uid('c');
  const agent = uid('a');
  const subject = (kind: string) => `wa.${company}.${agent}.${kind}`;

  it(
    'every client that stays connected gets every event once, in order; none is delayed by a fault elsewhere; ' +
      '/ready tells the truth',
    async () => {
      const { pods, pub } = fleet;
      const [a, b, c] = pods as [ChildGateway, ChildGateway, ChildGateway];
      const user = (pod: ChildGateway) =>
        TestClient.ready(userUrl(pod.ws, company, agent, companyToken(company, agent, uid('u'))));
      const viewers = await Promise.all([a, b, c].map(user));
      const listOnly = await Promise.all([a, b, c].map(user));
      for (const v of viewers) v.selectChat('hot');
      await Promise.all(viewers.map((v) => v.sync()));
      const ready = async (pod: ChildGateway) => {
        const res = await fetch(`${pod.http}/ready`, { signal: AbortSignal.timeout(2000) });
        return { status: res.status, body: await res.json() };
      };
      assert.equal((await ready(a)).status, 200);

      const subjects = [subject('chats'), subject('messages.hot')];
      const load = publishLoad(pub, subjects, 3000, 300);
      const readyWhileDown: Array<{ status: number; redis: string }> = [];
      const faults = (async () => {
        await waitFor(() => viewers[0]!.events().length >= 100, 10_000, 'events flowing before the faults');
        await redisServer.kill(); // kill -9: everything in it is gone
        let down = await ready(a);
        await waitFor(
          async () => {
            down = await ready(a);
            return down.status === 503;
          },
          5000,
          'A noticing Redis is gone',
        );
        readyWhileDown.push({ status: down.status, redis: down.body.dependencies.redis });
        b.process.kill('SIGSTOP');
        await sleep(1000);
        await c.kill();
        await sleep(3300); // Redis was down for 5 s
        await redisServer.run(); // back, empty
        await sleep(700);
        b.process.kill('SIGCONT'); // paused for 5 s
      })();
      const published = await load;
      await faults;

      const forViewers = expectedFor(published, subjects);
      const forListOnly = expectedFor(published, [subject('chats')]);
      for (const client of [viewers[0]!, viewers[1]!]) await waitForEvents(client, forViewers.length, 20_000);
      for (const client of [listOnly[0]!, listOnly[1]!]) await waitForEvents(client, forListOnly.length, 20_000);
      await sleep(300);
      const worstOnA = Math.max(
        assertReceived(viewers[0]!, forViewers, 'viewer on A'),
        assertReceived(listOnly[0]!, forListOnly, 'list-only on A'),
      );
      assertReceived(viewers[1]!, forViewers, 'viewer on the paused pod B');
      assertReceived(listOnly[1]!, forListOnly, 'list-only on the paused pod B');
      timingBound(worstOnA <= 1000, `clients on A waited up to ${worstOnA} ms for an event`);
      assert.deepEqual(readyWhileDown, [{ status: 503, redis: 'disconnected' }], '/ready names Redis while it is down');
      await waitFor(async () => (await ready(a)).status === 200, 10_000);
      await waitFor(async () => (await ready(b)).status === 200, 10_000);

      // Redis came back empty: the pods that live wrote their locks and routes again.
      const redis = new Redis(redisServer.address);
      await waitFor(
        async () =>
          (await redis.smembers(`route:${company}:${agent}:messages:hot`)).sort().join() === '127.0.0.2,127.0.0.3',
        10_000,
      );
      assert.equal(await redis.scard(`route:${company}:${agent}:chats`), 2);
      redis.disconnect();
      await Promise.all([...viewers.slice(0, 2), ...listOnly.slice(0, 2)].map((cl) => cl.close()));
    },
  );
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
      DAISI_WS_NATS_RECONNECT_WAIT_SECONDS: '1',
      DAISI_WS_SERVER_POD_ID: '127.0.0.1',
    });
    pub = await TestPublisher.connect(nats.url);
  });
  after(async () => {
    await gw.stop();
    await pub.close();
    await nats.stop();
  });

  it('reports NATS down on /ready while it is down, reconnects by itself and delivers what comes after', async () => {
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

describe('a pod that is not reading the stream yet', () => {
  it('refuses upgrades with 503 until it reads, then greets with the epoch and delivers from then on', async () => {
    // nats-server paused: the pod's HTTP server listens, but its first connection to NATS (and so
    // its reading of the stream) waits until the server answers.
    const nats = await TestNatsServer.start();
    const port = freePortNumber();
    const company = uid('c');
    const agent = uid('a');
    const url = userUrl(`ws://127.0.0.1:${port}`, company, agent, companyToken(company, agent, uid('u')));
    nats.signal('SIGSTOP');
    const starting = startGateway({
      DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
      DAISI_WS_NATS_URL: nats.url,
      DAISI_WS_SERVER_HTTP_PORT: String(port),
      DAISI_WS_NATS_CONNECT_TIMEOUT_SECONDS: '20',
    });
    let gw: RunningGateway | undefined;
    let pub: TestPublisher | undefined;
    try {
      await waitForPort(port, 10_000);
      const early = await refusal(url);
      assert.equal(early.status, 503);
      assert.equal(early.body.code, 'ServiceUnavailable');
      assert.equal(early.body.message, 'Service starting');
      nats.signal('SIGCONT');
      gw = await starting;
      const client = await TestClient.ready(url);
      const ready = client.frames.find((f) => f.type === 'ready')!;
      assert.match(ready.payload.epoch, /^[\w-]{12}$/, 'ready carries the epoch to resume with');
      pub = await TestPublisher.connect(nats.url);
      await pub.publish(`wa.${company}.${agent}.chats`, event('first'));
      assert.deepEqual(ids(await client.waitEvents(1)), ['first']);
      await client.close();
    } finally {
      nats.signal('SIGCONT');
      await (gw ?? (await starting.catch(() => undefined)))?.stop();
      await pub?.close();
      await nats.stop();
    }
  });
});

describe('the stream is deleted and recreated under a running pod', () => {
  let nats: TestNatsServer;
  let gw: RunningGateway;
  let pub: TestPublisher;
  const stream = uid('stream');
  const company = uid('c');
  const agent = uid('a');

  before(async () => {
    nats = await TestNatsServer.start();
    pub = await TestPublisher.connect(nats.url);
    const jsm = await jetstreamManager(pub.nc);
    await jsm.streams.add({ name: stream, subjects: ['wa.>'] });
    gw = await startGateway({
      DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
      DAISI_WS_NATS_URL: nats.url,
      DAISI_WS_NATS_STREAM_NAME: stream,
      DAISI_WS_NATS_CREATE_STREAM: 'false',
      DAISI_WS_SERVER_POD_ID: '127.0.0.1',
    });
  });
  after(async () => {
    await gw.stop();
    await pub.close();
    await nats.stop();
  });

  it(
    '/ready says the pod is not reading while the stream is gone; once it is back the pod reads its new epoch ' +
      'from its start',
    async () => {
      const ready = async () => (await fetch(`${gw.http}/ready`)).json();
      const client = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))));
      const oldEpoch = client.frames[0]!.payload.epoch;
      for (let i = 0; i < 3; i++) await pub.publish(`wa.${company}.${agent}.chats`, event(`old-${i}`));
      await client.waitEvents(3);
      const jsm = await jetstreamManager(pub.nc);
      await jsm.streams.delete(stream);
      await waitFor(async () => (await ready()).dependencies.nats === 'not_reading', 10_000);
      assert.equal((await fetch(`${gw.http}/ready`)).status, 503);
      await jsm.streams.add({ name: stream, subjects: ['wa.>'] });
      await pub.publish(`wa.${company}.${agent}.chats`, event('new-0')); // seq 1 of the new stream
      await waitFor(async () => (await ready()).status === 'READY', 10_000);
      await pub.publish(`wa.${company}.${agent}.chats`, event('new-1'));
      const got = await client.waitEvents(5);
      assert.deepEqual(
        got.map((f) => [f.payload.event_id, f.seq]),
        [
          ['old-0', 1],
          ['old-1', 2],
          ['old-2', 3],
          ['new-0', 1],
          ['new-1', 2],
        ],
      );
      const again = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))));
      assert.notEqual(again.frames[0]!.payload.epoch, oldEpoch, 'a new epoch for the recreated stream');
      await Promise.all([client.close(), again.close()]);
    },
  );
});
