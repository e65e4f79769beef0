import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestNatsServer } from '../../support/nats-server.js';
import { REDIS_ADDRESS, uid } from '../helpers/env.js';
import { companyToken, spawnGateway, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { LagProxy } from '../helpers/lag-proxy.js';
import { event, TestPublisher } from '../helpers/publisher.js';
import { TestClient } from '../helpers/ws-client.js';

// The seam of interest reading (docs/protocol.md, *Resume*: a session gets every event published
// after its `ready`): a pod that subscribes to a new session's subjects only once it has sent
// `ready` loses what is published in between. Here everything the pod writes to nats-server is held
// 300 ms on the way (a real server behind a lagging link), so a subscription sent with or after
// `ready` lands after the events the test publishes the moment `ready` arrives.

const LAG_MS = 300;

describe('interest reading: a new session behind a lagging link to NATS', { timeout: 90_000 }, () => {
  let nats: TestNatsServer;
  let proxy: LagProxy;
  let pod: ChildGateway;
  let pub: TestPublisher;
  const stream = uid('stream');

  before(async () => {
    nats = await TestNatsServer.start();
    proxy = await LagProxy.start({ host: '127.0.0.1', port: nats.port }, LAG_MS);
    pod = await spawnGateway('127.0.0.2', {
      DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
      DAISI_WS_NATS_URL: proxy.url,
      DAISI_WS_NATS_STREAM_NAME: stream,
    });
    pub = await TestPublisher.connect(nats.url);
    await pub.waitForStream(stream);
  });
  after(async () => {
    await pod?.kill();
    await pub?.close();
    proxy?.close();
    await nats?.stop();
  });

  it('gets the events published the moment its ready arrives, for agents the pod held nothing of', async () => {
    const company = uid('c');
    for (let i = 0; i < 4; i++) {
      const agent = uid('a');
      const client = await TestClient.ready(userUrl(pod.ws, company, agent, companyToken(company, agent, uid('u'))));
      const ids = [`${agent}-1`, `${agent}-2`];
      for (const id of ids) await pub.publish(`wa.${company}.${agent}.chats`, event(id));
      const got = await client.waitEvents(ids.length, 5000).catch(() => client.events());
      assert.deepEqual(
        got.map((f) => f.payload.event_id),
        ids,
        `session ${i + 1}: both events published right after its ready, once, in order`,
      );
      await client.close();
    }
  });

  it('a live select_chat gets every event of the chat stored after the pod took the frame, at once', async () => {
    const company = uid('c');
    const agent = uid('a');
    const client = await TestClient.ready(userUrl(pod.ws, company, agent, companyToken(company, agent, uid('u'))));
    for (let i = 0; i < 3; i++) {
      const chat = uid('chat');
      client.selectChat(chat);
      // The echo of `ready` comes back once the pod has taken the frames before it: select_chat is in.
      const marker = uid('m');
      client.send({ type: 'ready', payload: { marker } });
      await client.next((f) => f.type === 'ready' && f.payload?.marker === marker);
      const id = `${chat}-1`;
      await pub.publish(`wa.${company}.${agent}.messages.${chat}`, event(id));
      const got = await client
        .next((f) => f.type === 'event' && f.payload.event_id === id, 5000)
        .then(() => true)
        .catch(() => false);
      assert.ok(got, `chat ${i + 1}: the event stored right after the select_chat reached the session`);
    }
    assert.equal(new Set(client.events().map((f) => f.payload.event_id)).size, client.events().length, 'no repeats');
    await client.close();
  });
});
