import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { DaisiClient } from '../../client/src/index.js';
import { KEYS, uid } from '../helpers/env.js';
import { adminToken, adminUrl, companyToken, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { useFleet } from '../helpers/fleet.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { refusal, TestClient } from '../helpers/ws-client.js';
import { timingBound } from '../helpers/timing.js';

const HOSTS = ['127.0.0.51', '127.0.0.52'];
const CLI = new URL('../../src/app/cli.ts', import.meta.url).pathname;

async function api(pod: ChildGateway, path: string, init: { method?: string; body?: unknown } = {}) {
  const res = await fetch(`${pod.http}${path}`, {
    method: init.method ?? 'GET',
    headers: { 'X-API-Key': KEYS.admin, 'Content-Type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/**
 * The operator API across two pods with a real Redis and nats-server (docs/protocol.md,
 * *Operator API*): who is connected where, and disconnecting and blocking them.
 */
describe('operator API across pods', () => {
  const fleet = useFleet(HOSTS);
  const company = uid('c');
  const user = (pod: ChildGateway, agent: string, name: string, query = '') =>
    TestClient.ready(`${userUrl(pod.ws, company, agent, companyToken(company, agent, name))}${query}`);

  it('lists the sessions of both pods from either pod, with their pod ids; filters, limit and truncated', async () => {
    const [a, b] = fleet.pods as [ChildGateway, ChildGateway];
    const clients = await Promise.all([
      user(a, 'ag1', 'u1', '&chat_id=k1'),
      user(a, 'ag1', 'u2'),
      user(b, 'ag1', 'u3'),
      user(b, 'ag2', 'u4'),
    ]);
    const admin = await TestClient.ready(adminUrl(b.ws, adminToken({ admin_id: 'ops-admin' })));
    for (const from of [a, b]) {
      const all = await api(from, `/api/sessions?company_id=${company}`);
      assert.equal(all.status, 200);
      assert.equal(all.body.complete, true);
      assert.equal(all.body.truncated, false);
      const where = Object.fromEntries(all.body.sessions.map((s: any) => [s.user_id, s.pod_id]));
      assert.deepEqual(where, { u1: HOSTS[0], u2: HOSTS[0], u3: HOSTS[1], u4: HOSTS[1] });
      const u1 = all.body.sessions.find((s: any) => s.user_id === 'u1');
      assert.equal(u1.chat_id, 'k1');
      assert.equal(u1.type, 'company');
      assert.ok(Date.parse(u1.connected_at) > Date.now() - 60_000);
      assert.deepEqual(
        all.body.pods.map((p: any) => [p.pod_id, p.answered]),
        [
          [HOSTS[0], true],
          [HOSTS[1], true],
        ],
      );
    }
    const ids = async (query: string) =>
      (await api(a, `/api/sessions?${query}`)).body.sessions.map((s: any) => s.user_id ?? s.admin_id).sort();
    assert.deepEqual(await ids(`company_id=${company}&agent_id=ag1`), ['u1', 'u2', 'u3']);
    assert.deepEqual(await ids(`company_id=${company}&agent_id=ag1&user_id=u3`), ['u3']);
    assert.deepEqual(await ids('admin_id=ops-admin'), ['ops-admin']);
    const limited = await api(b, `/api/sessions?company_id=${company}&limit=3`);
    assert.equal(limited.body.sessions.length, 3);
    assert.equal(limited.body.truncated, true);
    assert.equal((await api(a, '/api/sessions?limit=0')).status, 400);
    assert.match((await api(a, '/api/sessions?company_id=a.b')).body.details, /company_id/);
    const keyless = await fetch(`${a.http}/api/sessions`);
    assert.equal(keyless.status, 401);
    await Promise.all([...clients, admin].map((c) => c.close()));
  });

  it('a SIGSTOPped pod makes the answer incomplete within a second and is listed as not answering', async () => {
    const [a, b] = fleet.pods as [ChildGateway, ChildGateway];
    const client = await user(a, 'ag3', 'u5');
    b.process.kill('SIGSTOP');
    try {
      const started = Date.now();
      const listing = await api(a, `/api/sessions?company_id=${company}&agent_id=ag3`);
      const took = Date.now() - started;
      timingBound(took < 1500, `answered in ${took} ms with a pod paused`);
      assert.equal(listing.body.complete, false);
      assert.deepEqual(
        listing.body.pods.find((p: any) => p.pod_id === HOSTS[1]),
        { pod_id: HOSTS[1], sessions: 0, answered: false },
      );
      assert.deepEqual(
        listing.body.sessions.map((s: any) => s.user_id),
        ['u5'],
        'what the answering pod holds',
      );
    } finally {
      b.process.kill('SIGCONT');
    }
    await client.close();
  });

  it('disconnects a user, an agent and an admin across pods: Disconnected and 4410 on those sessions only', async () => {
    const [a, b] = fleet.pods as [ChildGateway, ChildGateway];
    const [u1, u2, u3, other] = await Promise.all([
      user(a, 'ag4', 'u1'),
      user(b, 'ag4', 'u2'),
      user(b, 'ag5', 'u3'),
      user(a, 'ag6', 'u4'),
    ]);
    const adminId = uid('adm');
    const admin = await TestClient.ready(adminUrl(a.ws, adminToken({ admin_id: adminId })));
    const one = await api(b, '/api/disconnect', {
      method: 'POST',
      body: { company_id: company, agent_id: 'ag4', user_id: 'u1', reason: 'stolen laptop' },
    });
    assert.deepEqual([one.status, one.body.disconnected, one.body.complete], [200, 1, true]);
    const closed = await u1.closed;
    assert.equal(closed.code, 4410);
    const error = u1.frames.find((f) => f.type === 'error');
    assert.deepEqual(error?.payload, { code: 'Disconnected', message: 'stolen laptop' });
    const agent = await api(a, '/api/disconnect', { method: 'POST', body: { company_id: company, agent_id: 'ag5' } });
    assert.equal(agent.body.disconnected, 1);
    assert.equal((await u3.closed).code, 4410);
    const adm = await api(b, '/api/disconnect', { method: 'POST', body: { admin_id: adminId } });
    assert.equal(adm.body.disconnected, 1);
    assert.equal((await admin.closed).code, 4410);
    await sleep(300);
    for (const c of [u2, other]) assert.equal(c.socket.readyState, WebSocket.OPEN, 'the others stay');
    await Promise.all([u2.close(), other.close()]);
  });

  it('block_seconds refuses a reconnect on every pod with 403 InvalidToken until it is over; the SDK goes closed on 4410', async () => {
    const [a, b] = fleet.pods as [ChildGateway, ChildGateway];
    const token = () => companyToken(company, 'ag7', 'u7');
    const sdk = new DaisiClient({
      url: `${a.ws}/ws/${company}/ag7`,
      apiKey: KEYS.client,
      token,
      WebSocket,
    });
    sdk.connect();
    await waitFor(() => sdk.state === 'connected', 10_000, 'the SDK connected');
    const res = await api(b, '/api/disconnect', {
      method: 'POST',
      body: { company_id: company, agent_id: 'ag7', user_id: 'u7', block_seconds: 3, reason: 'shared account' },
    });
    assert.equal(res.body.disconnected, 1);
    await waitFor(() => sdk.state === 'closed', 5000, 'the SDK closed');
    for (const pod of [a, b]) {
      const refused = await refusal(userUrl(pod.ws, company, 'ag7', token()));
      assert.deepEqual(
        [refused.status, refused.body.code, refused.body.message],
        [403, 'InvalidToken', 'Session blocked by an operator'],
      );
      const inBand = await TestClient.open(userUrl(pod.ws, company, 'ag7', token()), {}, ['json.v2', 'json.v1']);
      const closed = await inBand.closed;
      assert.equal(closed.code, 4410, 'json.v2: blocked closes with 4410, as the disconnect did');
      assert.match(
        inBand.frames[0]!.payload.details,
        /^Until .+ \(\d+ s from now\): shared account$/,
        'and says until when, and why',
      );
    }
    const otherUser = await user(a, 'ag7', 'u8');
    await otherUser.close();
    await sleep(3200);
    for (const pod of [a, b]) {
      const back = await TestClient.ready(userUrl(pod.ws, company, 'ag7', token()));
      await back.close();
    }
    assert.equal(sdk.state, 'closed', 'the SDK did not come back by itself');
  });

  it('the CLI verbs against a running pod: sessions as a table and as JSON, disconnect', async () => {
    const [a, b] = fleet.pods as [ChildGateway, ChildGateway];
    const carol = await user(b, 'ag9', 'carol', '&chat_id=k9');
    const cli = (...args: string[]) => {
      const run = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args, '--url', a.http], {
        env: { ...process.env, DAISI_WS_ADMIN_KEY: KEYS.admin },
        encoding: 'utf8',
      });
      return { code: run.status, out: run.stdout, err: run.stderr };
    };
    const table = cli('sessions', '--company', company, '--agent', 'ag9');
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /^POD\s+TYPE\s+COMPANY\s+AGENT\s+USER \/ ADMIN\s+CHAT\s+CONNECTED/m);
    assert.match(table.out, new RegExp(`127\\.0\\.0\\.52\\s+company\\s+${company}\\s+ag9\\s+carol\\s+k9`));
    assert.match(table.out, /pods: 127\.0\.0\.51 \d+ session/);
    const json = JSON.parse(cli('sessions', '--company', company, '--user', 'carol', '--agent', 'ag9', '--json').out);
    assert.deepEqual(
      json.sessions.map((s: any) => s.user_id),
      ['carol'],
    );
    const refused = cli('disconnect', '--agent', 'ag9');
    assert.equal(refused.code, 2);
    assert.match(refused.err, /--company/);
    const done = cli(
      'disconnect',
      '--company',
      company,
      '--agent',
      'ag9',
      '--user',
      'carol',
      '--reason',
      'from the CLI',
    );
    assert.equal(done.code, 0, done.err);
    assert.match(done.out, /disconnected 1 session/);
    assert.equal((await carol.closed).code, 4410);
  });

  it('bad bodies get 400 naming the field', async () => {
    const [a] = fleet.pods as [ChildGateway];
    const bad = async (body: unknown, field: RegExp) => {
      const res = await api(a, '/api/disconnect', { method: 'POST', body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.code, 'BadRequest');
      assert.match(res.body.details, field);
    };
    await bad({}, /company_id/);
    await bad({ company_id: 'a*b' }, /company_id/);
    await bad({ company_id: 'c', user_id: 'u' }, /agent_id/);
    await bad({ admin_id: 'x', company_id: 'c' }, /admin_id/);
    await bad({ company_id: 'c', reason: 'x'.repeat(201) }, /reason/);
    await bad({ company_id: 'c', block_seconds: 86_401 }, /block_seconds/);
    await bad({ company_id: 'c', block_seconds: '10' }, /block_seconds/);
    await bad([1], /JSON object/);
  });
});
