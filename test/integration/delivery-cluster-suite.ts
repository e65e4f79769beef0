import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { REDIS_ADDRESS, uid } from '../helpers/env.js';
import { adminToken, adminUrl, companyToken, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { assertReceived, expectedFor, publishLoad, waitForEvents } from '../helpers/load.js';
import { useFleet } from '../helpers/fleet.js';
import { event, type TestPublisher } from '../helpers/publisher.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait.js';
import { timingBound } from '../helpers/timing.js';

const ids = (frames: Frame[]) => frames.map((f) => f.payload.event_id as string);

/**
 * Every pod reads the stream for its own sessions (docs/architecture.md, *How an event travels*): with
 * interest reading (the default) only what they want, with nats.read_mode stream all of it.
 */
export function clusterDeliverySuite(readMode: 'interest' | 'stream'): void {
  describe(`event delivery — cluster of three pods (${readMode} reading)`, () => {
    const fleet = useFleet(['127.0.0.2', '127.0.0.3', '127.0.0.4'], {
      env: {
        DAISI_WS_APP_SESSION_TTL_SECONDS: '3',
        DAISI_WS_APP_TTL_REFRESH_INTERVAL_SECONDS: '1',
        DAISI_WS_NATS_READ_MODE: readMode,
      },
    });
    let redis: Redis;
    let pods: ChildGateway[];
    let pub: TestPublisher;
    const company = uid('c');
    const agent = uid('a');
    const user = (pod: ChildGateway, u = uid('u'), ag = agent) =>
      TestClient.ready(userUrl(pod.ws, company, ag, companyToken(company, ag, u)));
    const subject = (kind: string) => `wa.${company}.${agent}.${kind}`;

    before(() => {
      ({ pods, pub } = fleet);
      redis = new Redis(REDIS_ADDRESS);
    });
    after(async () => {
      const stale = await redis.keys(`*${company}*`);
      if (stale.length > 0) await redis.del(...stale);
      redis.disconnect();
    });

    it('admins get the agent events their patterns match, never outside their restriction', async () => {
      const other = uid('c');
      const all = await TestClient.ready(adminUrl(pods[0]!.ws, adminToken({ admin_id: uid('adm') })));
      const byCompany = await TestClient.ready(
        adminUrl(pods[1]!.ws, adminToken({ admin_id: uid('adm'), subscribed_company_id: company })),
      );
      const byAgent = await TestClient.ready(
        adminUrl(pods[2]!.ws, adminToken({ admin_id: uid('adm'), subscribed_agent_id: 'a2' })),
      );
      const restricted = await TestClient.ready(
        adminUrl(pods[2]!.ws, adminToken({ admin_id: uid('adm'), company_id_restriction: other })),
      );
      await pub.publish(`wa.${company}.a1.agents`, event('e1'));
      await pub.publish(`wa.${company}.a2.agents`, event('e2'));
      await pub.publish(`wa.${other}.a2.agents`, event('e3'));
      // Last, events every admin wants one of: in stream order, anything wrongly sent is before them.
      await pub.publish(`wa.${other}.a2.agents`, event('end-other'));
      await pub.publish(`wa.${company}.a2.agents`, event('end-company'));
      assert.deepEqual(ids(await all.waitEvents(5)), ['e1', 'e2', 'e3', 'end-other', 'end-company']);
      assert.deepEqual(ids(await byCompany.waitEvents(3)), ['e1', 'e2', 'end-company']);
      assert.deepEqual(ids(await byAgent.waitEvents(4)), ['e2', 'e3', 'end-other', 'end-company']);
      assert.deepEqual(ids(await restricted.waitEvents(2)), ['e3', 'end-other']);
      await Promise.all([all, byCompany, byAgent, restricted].map((c) => c.close()));
    });

    it(
      '3,000 events at 300/s reach every client on every pod exactly once, in stream order, with seq and the ' +
        'producer bytes',
      async () => {
        const viewers = await Promise.all(pods.map((p) => user(p)));
        const listOnly = await Promise.all(pods.map((p) => user(p)));
        const stranger = await user(pods[0]!, uid('u'), uid('other-agent'));
        for (const v of viewers) v.selectChat('hot');
        for (const l of listOnly) l.selectChat('cold');
        await waitFor(async () => (await redis.scard(`route:${company}:${agent}:messages:hot`)) === 3);
        const subjects = [subject('chats'), subject('messages.hot'), subject('messages.cold')];
        // The load, then one more chat-list event every client wants: once it is in, nothing sent
        // before it (a duplicate, an event of the wrong chat) can still be on its way.
        const published = [
          ...(await publishLoad(pub, subjects, 3000, 300)),
          ...(await publishLoad(pub, [subject('chats')], 1, 100, 'end')),
        ];
        const forViewers = expectedFor(published, [subject('chats'), subject('messages.hot')]);
        const forListOnly = expectedFor(published, [subject('chats'), subject('messages.cold')]);
        for (const v of viewers) await waitForEvents(v, forViewers.length, 20_000);
        for (const l of listOnly) await waitForEvents(l, forListOnly.length, 20_000);
        for (const [i, v] of viewers.entries()) assertReceived(v, forViewers, `viewer on pod ${i}`);
        for (const [i, l] of listOnly.entries()) assertReceived(l, forListOnly, `list-only client on pod ${i}`);
        assert.equal(stranger.events().length, 0);
        await Promise.all([...viewers, ...listOnly, stranger].map((c) => c.close()));
      },
    );

    it('two distinct events with the same event_id both arrive', async () => {
      const u = await user(pods[1]!);
      await pub.publish(subject('chats'), event('same-id', { row_data: { n: 1 } }));
      await pub.publish(subject('chats'), event('same-id', { row_data: { n: 2 } }));
      const got = await u.waitEvents(2);
      assert.deepEqual(
        got.map((f) => f.payload.row_data.n),
        [1, 2],
      );
      assert.ok(got[1]!.seq! > got[0]!.seq!);
      await u.close();
    });

    it('a session that selects a chat on any pod gets every event after the start it is told, the next one included', async () => {
      const first = await user(pods[1]!);
      first.selectChat('warm');
      await waitFor(async () => (await redis.sismember(`route:${company}:${agent}:messages:warm`, '127.0.0.3')) === 1);
      const w1 = await pub.publish(subject('messages.warm'), event('w-1'));
      await first.waitEvents(1);
      // json.v2: the pod says where the selected chat starts (docs/protocol.md, *WebSocket*).
      const late = await TestClient.open(
        userUrl(pods[2]!.ws, company, agent, companyToken(company, agent, uid('u'))),
        {},
        ['json.v2', 'json.v1'],
      );
      await late.next((f) => f.type === 'ready');
      late.selectChat('warm');
      const { since } = (await late.next((f) => f.type === 'chat_selected')).payload as { since: number };
      const w2 = await pub.publish(subject('messages.warm'), event('w-2'));
      // Every event of the chat after the start, in order: w-2, and w-1 too when the pod's head was still
      // before it (a pod that held nothing of the chat knows the stream's head to within a second).
      const expected = [...(w1 > since ? ['w-1'] : []), 'w-2'];
      assert.deepEqual(ids(await late.waitEvents(expected.length, 3000)), expected, `since ${since}, w-1 at ${w1}`);
      assert.ok(since < w2, 'the start is before the next event');
      assert.deepEqual(ids(await first.waitEvents(2)), ['w-1', 'w-2']);
      await Promise.all([first.close(), late.close()]);
    });

    if (readMode === 'stream')
      it(
        'each pod holds one JetStream consumer whatever its sessions; it goes when the pod stops, or 10 s after the ' +
          'pod is killed',
        async () => {
          const ten = await Promise.all(Array.from({ length: 10 }, (_, i) => user(pods[i % 3]!)));
          const withTen = await pub.consumerCount(fleet.stream);
          const more = await Promise.all(Array.from({ length: 190 }, (_, i) => user(pods[i % 3]!)));
          for (const [i, c] of more.entries()) if (i % 7 === 0) c.selectChat(`chat-${i}`);
          await Promise.all(more.map((c) => c.sync()));
          const withTwoHundred = await pub.consumerCount(fleet.stream);
          assert.equal(withTen, 3, 'one ordered consumer per pod');
          assert.equal(withTwoHundred, 3);
          await Promise.all([...ten, ...more].map((c) => c.close()));
          assert.equal(await pods[2]!.stop(), 0);
          assert.equal(await pub.consumerCount(fleet.stream), 2, 'a pod that stops deletes its consumer');
          const killedAt = Date.now();
          await pods[1]!.kill();
          await waitFor(async () => (await pub.consumerCount(fleet.stream)) === 1, 15_000);
          const gone = Date.now() - killedAt;
          // The server's inactive threshold removed it, not anything the test did: not within 5 s.
          assert.ok(gone >= 5000, `a SIGKILLed pod's consumer went away ${gone} ms later (inactive_threshold 10 s)`);
          timingBound(
            gone <= 13_000,
            `a SIGKILLed pod's consumer went away ${gone} ms later (inactive_threshold 10 s)`,
          );
        },
      );
    else
      it('no pod holds a JetStream consumer for live events, whatever its sessions (plain subscriptions)', async () => {
        const clients = await Promise.all(
          Array.from({ length: 200 }, (_, i) => user(pods[i % 3]!, uid('u'), `ag${i}`)),
        );
        for (const [i, c] of clients.entries()) if (i % 7 === 0) c.selectChat(`chat-${i}`);
        await Promise.all(clients.map((c) => c.sync()));
        // A live select_chat reads what was stored before its subscription through a short-lived consumer
        // (resume.ts, beginSelect); none is held once those have read.
        await waitFor(async () => (await pub.consumerCount(fleet.stream)) === 0, 5000, 'no consumer held');
        await pub.publish(`wa.${company}.ag7.messages.chat-7`, event('to-a-selected-chat'));
        assert.deepEqual(ids(await clients[7]!.waitEvents(1)), ['to-a-selected-chat']);
        await Promise.all(clients.map((c) => c.close()));
      });
  });
}
