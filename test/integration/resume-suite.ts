import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uid } from '../helpers/env.js';
import { adminToken, adminUrl, companyToken, userUrl } from '../helpers/gateway.js';
import { TestClient, refusal, type Frame } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait.js';
import { useSingleNode, type SingleNodeSetup } from './single-node-setups.js';

const ids = (frames: Frame[]) => frames.map((f) => f.payload.event_id as string);
/** The stream sequence a publish got (the embedded engine answers `{seq}`, JetStream a number). */
const seqOf = (published: unknown) => (typeof published === 'number' ? published : (published as { seq: number }).seq);
const MAX_REPLAY = 50;

/** Resume after a reconnect (docs/protocol.md, *Resume*) on one node, the same for every engine. */
export function resumeSuite(setup: SingleNodeSetup): void {
  describe(`resume — ${setup.name} engine`, () => {
    const node = useSingleNode(setup, {
      DAISI_WS_APP_RESUME_MAX_REPLAY_EVENTS: String(MAX_REPLAY),
      DAISI_WS_APP_RESUME_MAX_REPLAYS_PER_MINUTE: '3',
    });
    const company = uid('c');
    const agent = uid('a');
    const subject = (kind: string) => `wa.${company}.${agent}.${kind}`;
    const ev = (id: string) =>
      JSON.stringify({ event_id: id, company_id: company, row_data: { id, nested: { k: [1, 2] } }, extra: 'kept' });
    const url = (user: string, query = '') =>
      `${userUrl(node.gw.ws, company, agent, companyToken(company, agent, user))}${query}`;

    it(
      'ready carries the epoch; a client that comes back with since gets what it missed, in order, once, then ' +
        'live events',
      async () => {
        const user = uid('u');
        const first = await TestClient.ready(url(user, '&chat_id=k'));
        const epoch = first.frames[0]!.payload.epoch as string;
        assert.match(epoch, /^\S+$/);
        await node.pub.publish(subject('chats'), ev('before-1'));
        await node.pub.publish(subject('messages.k'), ev('before-2'));
        const seen = await first.waitEvents(2);
        const since = seen[1]!.seq!;
        assert.ok(seen[1]!.seq! > seen[0]!.seq!);
        first.socket.terminate(); // gone without a close frame
        await first.closed;
        for (let i = 0; i < 5; i++) {
          await node.pub.publish(subject('chats'), ev(`missed-c${i}`));
          await node.pub.publish(subject('messages.k'), ev(`missed-m${i}`));
          await node.pub.publish(subject('messages.other'), ev(`not-mine-${i}`));
          await node.pub.publish(`wa.${company}.other-agent.chats`, ev(`not-mine-agent-${i}`));
        }
        const back = await TestClient.ready(url(user, `&since=${since}&epoch=${encodeURIComponent(epoch)}&chat_id=k`));
        const resumed = await back.next((f) => f.type === 'resumed');
        await node.pub.publish(subject('messages.k'), ev('live-1'));
        await back.waitEvents(11); // the replay was complete at 'resumed': nothing of it can come after live-1
        const missed = Array.from({ length: 5 }, (_, i) => [`missed-c${i}`, `missed-m${i}`]).flat();
        assert.deepEqual(ids(back.events()), [...missed, 'live-1']);
        const seqs = back.events().map((f) => f.seq!);
        assert.deepEqual(
          [...seqs].sort((a, b) => a - b),
          seqs,
          'seq increases',
        );
        assert.equal(new Set(seqs).size, seqs.length);
        assert.deepEqual(resumed.payload, { from: seqs[0], to: seqs[9], count: 10 });
        assert.ok(
          back.frames.indexOf(resumed) > back.frames.findIndex((f) => f.payload?.event_id === 'missed-m4'),
          'resumed comes after the replay',
        );
        assert.deepEqual(back.events()[0]!.payload, JSON.parse(ev('missed-c0')));
        await back.close();
      },
    );

    it("select_chat with since replays that chat's messages", async () => {
      const user = uid('u');
      const client = await TestClient.ready(url(user));
      await node.pub.publish(subject('messages.z'), ev('z-0'));
      await node.pub.publish(subject('chats'), ev('list-0'));
      const [listEvent] = await client.waitEvents(1);
      await node.pub.publish(subject('messages.z'), ev('z-1'));
      client.send({ type: 'select_chat', payload: { chat_id: 'z', since: listEvent!.seq! - 2 } });
      await client.next((f) => f.type === 'resumed');
      await node.pub.publish(subject('messages.z'), ev('z-2'));
      await node.pub.publish(subject('messages.z'), ev('z-end'));
      assert.deepEqual(ids(await client.waitEvents(5)), ['list-0', 'z-0', 'z-1', 'z-2', 'z-end']);
      await client.close();
    });

    it('a wrong epoch gets ResumeUnavailable, then live events; a bad since is refused with 400', async () => {
      const client = await TestClient.ready(url(uid('u'), '&since=1&epoch=not-this-one'));
      const error = await client.next((f) => f.type === 'error');
      assert.equal(error.payload.code, 'ResumeUnavailable');
      await node.pub.publish(subject('chats'), ev('after-error'));
      assert.deepEqual(ids(await client.waitEvents(1)), ['after-error']);
      await client.close();
      for (const bad of ['-1', 'abc', '1.5', '99999999999999999999']) {
        const res = await refusal(url(uid('u'), `&since=${bad}&epoch=e`));
        assert.equal(res.status, 400, `since=${bad}`);
        assert.equal(res.body.code, 'BadRequest');
      }
      assert.equal((await refusal(url(uid('u'), '&since=5'))).status, 400, 'since without epoch');
    });

    it(
      "a since beyond the stream's last event gets ResumeUnavailable, then live events (no silent wait for " +
        'sequences that never come)',
      async () => {
        const user = uid('u');
        const first = await TestClient.ready(url(user));
        const epoch = first.frames[0]!.payload.epoch as string;
        await first.close();
        const last = seqOf(await node.pub.publish(subject('chats'), ev('last')));
        const back = await TestClient.ready(url(user, `&since=${last + 1_000_000}&epoch=${encodeURIComponent(epoch)}`));
        const error = await back.next((f) => f.type === 'error');
        assert.equal(error.payload.code, 'ResumeUnavailable');
        assert.match(error.payload.message, /beyond the stream's last event/);
        await node.pub.publish(subject('chats'), ev('live-after-beyond'));
        assert.deepEqual(ids(await back.waitEvents(1)), ['live-after-beyond']);
        await back.close();
      },
    );

    it(
      'a since further behind than resume_max_replay_events gets ResumeUnavailable at once, before any event, ' +
        'then live events',
      async () => {
        const user = uid('u');
        const agentOwn = uid('a');
        const own = (kind: string) => `wa.${company}.${agentOwn}.${kind}`;
        const ownUrl = (query: string) =>
          `${userUrl(node.gw.ws, company, agentOwn, companyToken(company, agentOwn, user))}${query}`;
        const first = await TestClient.ready(ownUrl(''));
        const epoch = first.frames[0]!.payload.epoch as string;
        const since = seqOf(await node.pub.publish(own('chats'), ev('seen')));
        await first.waitEvents(1);
        await first.close();
        for (let i = 0; i <= MAX_REPLAY; i++) await node.pub.publish(own('chats'), ev(`behind-${i}`));
        const back = await TestClient.ready(ownUrl(`&since=${since}&epoch=${encodeURIComponent(epoch)}`));
        const error = await back.next((f) => f.type === 'error');
        assert.equal(error.payload.code, 'ResumeUnavailable');
        assert.match(error.payload.message, new RegExp(`more than ${MAX_REPLAY} events behind`));
        assert.equal(back.events().length, 0, 'refused before anything was replayed');
        await node.pub.publish(own('chats'), ev('live-after-far'));
        assert.deepEqual(ids(await back.waitEvents(1)), ['live-after-far']);
        // One fewer is replayed.
        const near = await TestClient.ready(ownUrl(`&since=${since + 2}&epoch=${encodeURIComponent(epoch)}`));
        const resumed = await near.next((f) => f.type === 'resumed');
        assert.equal(resumed.payload.count, MAX_REPLAY);
        await Promise.all([back.close(), near.close()]);
      },
    );

    it(
      'select_chat with since beyond resume_max_replays_per_minute gets RateLimitExceeded, and the chat is ' +
        'selected live',
      async () => {
        const client = await TestClient.ready(url(uid('u')));
        const since = seqOf(await node.pub.publish(subject('messages.r0'), ev('r-0')));
        for (let i = 1; i <= 3; i++) {
          client.send({ type: 'select_chat', payload: { chat_id: `r${i}`, since } });
          await waitFor(() => client.frames.filter((f) => f.type === 'resumed').length === i);
        }
        client.send({ type: 'select_chat', payload: { chat_id: 'r4', since } });
        const error = await client.next((f) => f.type === 'error');
        assert.equal(error.payload.code, 'RateLimitExceeded');
        await node.pub.publish(subject('messages.r4'), ev('r4-live'));
        assert.deepEqual(ids(await client.waitEvents(1)), ['r4-live']);
        await client.close();
      },
    );

    it('admins replay the agent events of their scope', async () => {
      const token = adminToken({ admin_id: uid('adm'), subscribed_company_id: company });
      const first = await TestClient.ready(adminUrl(node.gw.ws, token));
      const epoch = first.frames[0]!.payload.epoch as string;
      await node.pub.publish(subject('agents'), ev('ag-0'));
      const [seen] = await first.waitEvents(1);
      first.socket.terminate();
      await first.closed;
      await node.pub.publish(subject('agents'), ev('ag-1'));
      await node.pub.publish(`wa.${uid('c')}.x.agents`, ev('ag-other-company'));
      await node.pub.publish(`wa.${company}.a9.agents`, ev('ag-2'));
      const back = await TestClient.ready(`${adminUrl(node.gw.ws, token)}&since=${seen!.seq}&epoch=${epoch}`);
      await back.next((f) => f.type === 'resumed'); // the replay is complete when this arrives
      assert.deepEqual(ids(back.events()), ['ag-1', 'ag-2']);
      await back.close();
    });
  });
}
