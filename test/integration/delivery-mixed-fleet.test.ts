import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REDIS_ADDRESS, uid } from '../helpers/env.js';
import { companyToken, spawnGateway, startGateway, userUrl, type RunningGateway } from '../helpers/gateway.js';
import { GoReplicaClient, pushRequestOf } from '../helpers/go-replica.js';
import { TestNatsServer } from '../../support/nats-server.js';
import { TestPublisher } from '../helpers/publisher.js';
import { TestClient } from '../helpers/ws-client.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { Redis } from 'ioredis';

/**
 * A mixed fleet (docs/architecture.md, *How an event travels*): a Go replica reads the same stream and pushes the
 * events of the sessions in a daisi-ws pod's route sets to it over gRPC. The daisi-ws pod reads them itself too; a
 * session sees each event once.
 */
describe('mixed fleet: PushEvent from a Go replica', () => {
  let nats: TestNatsServer;
  let gw: RunningGateway;
  let pub: TestPublisher;
  let goReplica: GoReplicaClient;
  const redis = new Redis(REDIS_ADDRESS);
  const stream = uid('stream');
  const company = uid('c');
  const agent = uid('a');
  const subject = `wa.${company}.${agent}.messages.k`;
  const target = { companyId: company, agentId: agent, chatId: 'k' };
  const payload = (id: string) => ({
    event_id: id,
    event_time: '2026-11-26T10:00:00Z',
    company_id: company,
    chat_id: 'k',
    row_data: { text: id },
  });

  before(async () => {
    nats = await TestNatsServer.start();
    gw = await startGateway({
      DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
      DAISI_WS_NATS_URL: nats.url,
      DAISI_WS_NATS_STREAM_NAME: stream,
      DAISI_WS_SERVER_POD_ID: '127.0.0.1',
    });
    pub = await TestPublisher.connect(nats.url);
    await pub.waitForStream(stream);
    goReplica = new GoReplicaClient(`127.0.0.1:${gw.gateway.grpcPort()}`);
  });
  after(async () => {
    redis.disconnect();
    goReplica.close();
    await pub.close();
    await gw.stop();
    await nats.stop();
  });

  it(
    'an event read from the stream and then pushed is shown once; one pushed first and then read is shown once, ' +
      'with its seq; one only pushed is delivered',
    async () => {
      const client = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))));
      client.selectChat('k');
      await client.sync();

      const readFirst = await pub.publish(subject, JSON.stringify(payload('read-then-pushed')));
      await client.waitEvents(1);
      assert.equal(
        (await goReplica.push(pushRequestOf(target, payload('read-then-pushed'), 'go-pod-1'))).success,
        true,
      );

      assert.equal(
        (await goReplica.push(pushRequestOf(target, payload('pushed-then-read'), 'go-pod-1'))).success,
        true,
      );
      const readSecond = await pub.publish(subject, JSON.stringify(payload('pushed-then-read')));

      assert.equal((await goReplica.push(pushRequestOf(target, payload('go-only'), 'go-pod-1'))).success, true);
      await client.waitEvents(3, 5000);
      await sleep(1500); // longer than a pushed event is held
      const events = client.events();
      assert.deepEqual(
        events.map((f) => f.payload.event_id),
        ['read-then-pushed', 'pushed-then-read', 'go-only'],
      );
      assert.deepEqual(
        events.map((f) => f.seq),
        [readFirst, readSecond, undefined],
      );
      assert.deepEqual(events[2]!.payload, payload('go-only'));
      await client.close();
    },
  );

  it('a Go pod that NAKs on success:false and pushes again at once: one event to a chat this pod does not hold, one push', async () => {
    // The route set still names this pod (a stale entry: its session of the chat is gone).
    const stale = `route:${company}:${agent}:messages:gone`;
    await redis.sadd(stale, '127.0.0.1');
    const request = pushRequestOf({ companyId: company, agentId: agent, chatId: 'gone' }, payload('loop'), 'go-pod-1');
    let pushes = 0;
    for (;;) {
      pushes++;
      const res = await goReplica.push(request);
      if (res.success || pushes >= 50) break; // the Go pod's NAK: redelivered at once, forwarded again
    }
    assert.equal(pushes, 1, 'no forwarding loop');
    const metrics = await (await fetch(`${gw.http}/metrics`)).text();
    assert.match(metrics, /dws_grpc_pushes_total\{outcome="no_session"\} [1-9]/);
    await redis.del(stale);
  });
});

describe('mixed fleet: a pod started again under the same pod id', () => {
  it("removes its predecessor's route entries that none of its sessions writes again within a renewal interval", async () => {
    const nats = await TestNatsServer.start();
    const redis = new Redis(REDIS_ADDRESS);
    const company = uid('c');
    const podId = '127.0.0.71';
    // What a SIGKILLed run left: its entries beside a Go replica's, and one its new session needs again.
    const staleChats = `route:${company}:gone:chats`;
    const staleChat = `route:${company}:back:messages:old`;
    const kept = `route:${company}:back:chats`;
    for (const key of [staleChats, staleChat, kept]) await redis.sadd(key, podId, 'go-pod-9');
    const pod = await spawnGateway(podId, {
      DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
      DAISI_WS_NATS_URL: nats.url,
      DAISI_WS_NATS_STREAM_NAME: uid('stream'),
      DAISI_WS_APP_TTL_REFRESH_INTERVAL_SECONDS: '1',
    });
    try {
      const client = await TestClient.ready(userUrl(pod.ws, company, 'back', companyToken(company, 'back', 'u1')));
      await waitFor(async () => (await redis.sismember(staleChats, podId)) === 0, 10_000, 'the stale entries went');
      assert.deepEqual((await redis.smembers(staleChats)).sort(), ['go-pod-9'], 'only its own entry went');
      assert.deepEqual((await redis.smembers(staleChat)).sort(), ['go-pod-9']);
      assert.deepEqual((await redis.smembers(kept)).sort(), [podId, 'go-pod-9'], 'the one its session needs stays');
      // The pod logs the clean-up once Redis answered it: the line may come just after the entries went.
      await waitFor(
        () => pod.output.some((l) => l.includes('route entries of a previous run under this pod id removed')),
        5000,
        'the clean-up is logged',
      );
      await client.close();
    } finally {
      await pod.kill();
      for (const key of [staleChats, staleChat, kept]) await redis.del(key);
      redis.disconnect();
      await nats.stop();
    }
  });
});
