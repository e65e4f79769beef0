import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uid } from '../helpers/env.js';
import { adminToken, adminUrl, companyToken, userUrl } from '../helpers/gateway.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait.js';
import { useSingleNode, type SingleNodeSetup } from './single-node-setups.js';

const ids = (frames: Frame[]) => frames.map((f) => f.payload.event_id as string);

/** Single-node delivery (docs/protocol.md, *Subjects and events*, §4, §9.1, §9.4, §9.8), the same for every engine. */
export function deliverySuite(setup: SingleNodeSetup): void {
  describe(`single-node delivery — ${setup.name} engine`, () => {
    const node = useSingleNode(setup);
    const company = uid('c');
    const agent = uid('a');
    const user = () => TestClient.ready(userUrl(node.gw.ws, company, agent, companyToken(company, agent, uid('u'))));
    const ev = (id: string) => JSON.stringify({ event_id: id, company_id: company, row_data: { id } });

    it('every session of the agent gets every chat-list event in order, also after select_chat', async () => {
      const [a, b] = await Promise.all([user(), user()]);
      b.selectChat('open-chat');
      await waitFor(() => node.gw.gateway.registry.chatSessions(company, agent, 'open-chat').size === 1);
      const expected = Array.from({ length: 200 }, (_, i) => `l-${i}`);
      for (const id of expected) await node.pub.publish(`wa.${company}.${agent}.chats`, ev(id));
      assert.deepEqual(ids(await a.waitEvents(200)), expected);
      assert.deepEqual(ids(await b.waitEvents(200)), expected);
      await Promise.all([a.close(), b.close()]);
    });

    it('message events follow select_chat', async () => {
      const u = await user();
      u.selectChat('x');
      await waitFor(() => node.gw.gateway.registry.chatSessions(company, agent, 'x').size === 1);
      await node.pub.publish(`wa.${company}.${agent}.messages.x`, ev('x-1'));
      await u.waitEvents(1);
      u.selectChat('y');
      await waitFor(() => node.gw.gateway.registry.chatSessions(company, agent, 'y').size === 1);
      await node.pub.publish(`wa.${company}.${agent}.messages.x`, ev('x-2'));
      await node.pub.publish(`wa.${company}.${agent}.messages.y`, ev('y-1'));
      // One reader, stream order: x-2, published before y-1, would have arrived before it.
      await u.waitEvents(2);
      assert.deepEqual(ids(u.events()), ['x-1', 'y-1']);
      await u.close();
    });

    it('passes the payload through unchanged and survives payloads that are not JSON objects', async () => {
      const u = await user();
      const raw = '{"event_id":"raw-1","row_data":{"big":12345678901234567890,"nested":{"a":[1,2]}},"extra":"kept"}';
      await node.pub.publish(`wa.${company}.${agent}.chats`, 'not json at all');
      await node.pub.publish(`wa.${company}.${agent}.chats`, '[1,2,3]');
      await node.pub.publish(`wa.${company}.${agent}.chats`, raw);
      const frames: string[] = [];
      u.socket.on('message', (d) => frames.push(d.toString()));
      await u.waitEvents(1);
      await waitFor(() => frames.length > 0);
      assert.match(frames[0]!, /^\{"type":"event","seq":\d+,"payload":/);
      assert.equal(frames[0], `{"type":"event","seq":${JSON.parse(frames[0]!).seq},"payload":${raw}}`);
      assert.equal(u.events().length, 1);
      await u.close();
    });

    it('admins get the agent events of their scope only', async () => {
      const other = uid('c');
      const scoped = await TestClient.ready(
        adminUrl(
          node.gw.ws,
          adminToken({ admin_id: uid('adm'), subscribed_company_id: company, subscribed_agent_id: agent }),
        ),
      );
      const restricted = await TestClient.ready(
        adminUrl(node.gw.ws, adminToken({ admin_id: uid('adm'), company_id_restriction: other })),
      );
      await node.pub.publish(`wa.${company}.${agent}.agents`, ev('ag-1'));
      await node.pub.publish(`wa.${company}.other.agents`, ev('ag-2'));
      await node.pub.publish(`wa.${other}.${agent}.agents`, ev('ag-3'));
      // Last, one event each admin wants: in stream order, anything wrongly sent would be before it.
      await node.pub.publish(`wa.${company}.${agent}.agents`, ev('ag-end-scoped'));
      await node.pub.publish(`wa.${other}.${agent}.agents`, ev('ag-end-restricted'));
      assert.deepEqual(ids(await scoped.waitEvents(2)), ['ag-1', 'ag-end-scoped']);
      assert.deepEqual(ids(await restricted.waitEvents(2)), ['ag-3', 'ag-end-restricted']);
      await Promise.all([scoped.close(), restricted.close()]);
    });
  });
}
