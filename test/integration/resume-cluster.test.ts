import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { uid } from '../helpers/env.js';
import { companyToken, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { assertReceived, expectedFor, publishLoad, waitForEvents } from '../helpers/load.js';
import { useFleet } from '../helpers/fleet.js';
import { TestClient } from '../helpers/ws-client.js';
import { sleep, waitFor } from '../helpers/wait.js';

/**
 * docs/protocol.md, *Resume* across pods: a client that lost its socket comes back on another pod with `since`
 * and gets what it missed — from that pod's memory (pod B) or from the stream (pod C keeps only
 * 100 events in memory).
 */
describe('resume on another pod under 1,000 events/s', () => {
  const fleet = useFleet(['127.0.0.2', '127.0.0.3', '127.0.0.4'], {
    podEnv: [{}, {}, { DAISI_WS_APP_RESUME_MAX_EVENTS: '100' }],
  });
  const company = uid('c');
  const agent = uid('a');
  const subject = (kind: string) => `wa.${company}.${agent}.${kind}`;

  it(
    'socket destroyed, 3 s away, back on another pod with since and chat_id: every event once, in order, nothing ' +
      'of other chats (from memory and from the stream)',
    async () => {
      const { pods, pub } = fleet;
      const [a, b, c] = pods as [ChildGateway, ChildGateway, ChildGateway];
      const users = [uid('u'), uid('u')];
      const url = (pod: ChildGateway, user: string, query: string) =>
        `${userUrl(pod.ws, company, agent, companyToken(company, agent, user))}${query}`;
      const firsts = await Promise.all(users.map((u) => TestClient.ready(url(a, u, '&chat_id=k'))));
      const subjects = [
        subject('chats'),
        subject('messages.k'),
        subject('messages.other'),
        `wa.${company}.${uid('a')}.chats`,
      ];
      const load = publishLoad(pub, subjects, 7000, 1000);
      await waitFor(() => firsts.every((f) => f.events().length >= 500), 10_000, 'events flowing to both');
      for (const f of firsts) f.socket.terminate();
      await sleep(3000);
      const resumes = users.map((u, i) => {
        const first = firsts[i]!;
        const last = first.events().at(-1)!;
        return TestClient.ready(
          url(i === 0 ? b : c, u, `&since=${last.seq}&epoch=${first.frames[0]!.payload.epoch}&chat_id=k`),
        );
      });
      const backs = await Promise.all(resumes);
      const published = await load;
      const expected = expectedFor(published, [subject('chats'), subject('messages.k')]);
      for (const [i, back] of backs.entries()) {
        await waitForEvents(back, expected.length - firsts[i]!.events().length, 20_000);
        await sleep(300);
        const resumed = back.frames.find((f) => f.type === 'resumed');
        assert.ok(resumed && resumed.payload.count > 1000, `resumed ${JSON.stringify(resumed?.payload)}`);
        const joined = { raw: [...firsts[i]!.raw, ...back.raw] } as TestClient;
        assertReceived(joined, expected, i === 0 ? 'resumed from memory (pod B)' : 'resumed from the stream (pod C)');
      }
      await Promise.all(backs.map((x) => x.close()));
    },
  );

  it('ResumeUnavailable when the stream no longer reaches back to since, then live events', async () => {
    const { pods, pub, stream } = fleet;
    const c = pods[2]!;
    const user = uid('u');
    const first = await TestClient.ready(userUrl(c.ws, company, agent, companyToken(company, agent, user)));
    const epoch = first.frames[0]!.payload.epoch;
    await first.close();
    for (let i = 0; i < 300; i++) await pub.publish(subject('chats'), `{"event_id":"p-${i}"}`);
    const jsm = await jetstreamManager(pub.nc);
    await jsm.streams.purge(stream, { keep: 10 });
    const back = await TestClient.ready(
      `${userUrl(c.ws, company, agent, companyToken(company, agent, user))}&since=1&epoch=${epoch}`,
    );
    const error = await back.next((f) => f.type === 'error');
    assert.equal(error.payload.code, 'ResumeUnavailable');
    assert.match(error.payload.message, /no longer holds/);
    await pub.publish(subject('chats'), '{"event_id":"live"}');
    const [live] = await back.waitEvents(1);
    assert.equal(live!.payload.event_id, 'live');
    await back.close();
  });
});
