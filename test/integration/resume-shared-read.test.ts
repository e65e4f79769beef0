import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uid } from '../helpers/env.js';
import { useFleet } from '../helpers/fleet.js';
import { companyToken, userUrl } from '../helpers/gateway.js';
import { event } from '../helpers/publisher.js';
import { TestClient } from '../helpers/ws-client.js';

// A reconnect storm onto a pod that held none of the sessions' agents (docs/protocol.md, *Resume*):
// every replay has to read the stream. Replays of the same subjects from the same point share one
// read instead of a consumer each; counted on the server's own advisories of created consumers.

const SESSIONS = 60;
const EVENTS = 120;

describe('resume: replays of one agent share their read of the stream', { timeout: 90_000 }, () => {
  const fleet = useFleet(['127.0.0.2']);

  it(`${SESSIONS} sessions resuming at once get every event once, in order, from a few consumers`, async (t) => {
    const { pods, pub, stream } = fleet;
    const company = uid('c');
    const agent = uid('a');
    // An epoch from a session of another agent: this pod never held `agent`, so its history has nothing of it.
    const elsewhere = uid('a');
    const other = await TestClient.ready(
      userUrl(pods[0]!.ws, company, elsewhere, companyToken(company, elsewhere, uid('u'))),
    );
    const epoch = other.frames[0]!.payload.epoch as string;
    await other.close();
    const ids = Array.from({ length: EVENTS }, (_, i) => `e${i}`);
    let since = 0;
    for (const [i, id] of ids.entries()) {
      const seq = await pub.publish(`wa.${company}.${agent}.chats`, event(id));
      if (i === 0) since = seq - 1;
    }
    const created: string[] = [];
    const advisories = pub.nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.CREATED.${stream}.>`, {
      callback: (_err, msg) => void created.push(msg.subject),
    });
    const clients = await Promise.all(
      Array.from({ length: SESSIONS }, () =>
        TestClient.ready(
          `${userUrl(pods[0]!.ws, company, agent, companyToken(company, agent, uid('u')))}` +
            `&since=${since}&epoch=${encodeURIComponent(epoch)}`,
        ),
      ),
    );
    await Promise.all(clients.map((c) => c.next((f) => f.type === 'resumed', 20_000)));
    await pub.nc.flush();
    advisories.unsubscribe();
    for (const [i, client] of clients.entries()) {
      assert.deepEqual(
        client.events().map((f) => f.payload.event_id),
        ids,
        `session ${i}: every event once, in order`,
      );
    }
    t.diagnostic(`${created.length} consumers created for ${SESSIONS} replays`);
    assert.ok(created.length > 0, 'the replays read the stream');
    assert.ok(created.length <= SESSIONS / 2, `${created.length} consumers for ${SESSIONS} replays`);
    await Promise.all(clients.map((c) => c.close()));
  });
});
