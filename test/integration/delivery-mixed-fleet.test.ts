import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REDIS_ADDRESS, uid } from '../helpers/env.js';
import { companyToken, startGateway, userUrl, type RunningGateway } from '../helpers/gateway.js';
import { GoReplicaClient, pushRequestOf } from '../helpers/go-replica.js';
import { TestNatsServer } from '../../support/nats-server.js';
import { TestPublisher } from '../helpers/publisher.js';
import { TestClient } from '../helpers/ws-client.js';
import { sleep } from '../helpers/wait.js';

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
      await sleep(200);

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

  it('answers success:false when no local session wants the event', async () => {
    const res = await goReplica.push(
      pushRequestOf({ companyId: company, agentId: agent, chatId: 'nobody' }, payload('x'), 'go-pod-1'),
    );
    assert.equal(res.success, false);
  });
});
