import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { TestNatsServer } from '../../support/nats-server.js';
import { TestPostgres } from '../../support/postgres-server.js';
import { createCompanySchema, readWholeStream, spawnCdc, type CdcProcess } from '../helpers/cdc.js';
import { fromStruct } from '../../src/transports/grpc/struct.js';
import { freePortNumber, REDIS_ADDRESS, uid } from '../helpers/env.js';
import { GoReplicaClient, pushRequestOf } from '../helpers/go-replica.js';
import { adminToken, adminUrl, companyToken, spawnGateway, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import { TestClient } from '../helpers/ws-client.js';

/**
 * The front of the pipeline (SPEC §18, docs/protocol.md, *Row changes*): rows committed in a real
 * PostgreSQL (its own cluster, wal_level=logical) reach exactly the sessions their subjects name,
 * once each, in commit order, through `daisi-ws cdc` and a pod on a real nats-server.
 */
describe('CDC bridge: Postgres commits to browser sessions', {
  skip: !TestPostgres.available() && 'no PostgreSQL 15 binaries',
  timeout: 120_000,
}, () => {
  let postgres: TestPostgres;
  let nats: TestNatsServer;
  let pod: ChildGateway;
  let bridge: CdcProcess;
  let db: pg.Client;
  const stream = uid('stream');
  const [acme, beta] = [uid('acme'), uid('beta')];

  before(async () => {
    [postgres, nats] = await Promise.all([TestPostgres.start(), TestNatsServer.start()]);
    db = new pg.Client(postgres.url);
    await db.connect();
    await createCompanySchema(db, acme);
    await createCompanySchema(db, beta);
    const env = {
      DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
      DAISI_WS_NATS_URL: nats.url,
      DAISI_WS_NATS_STREAM_NAME: stream,
    };
    pod = await spawnGateway('127.0.0.71', env);
    bridge = await spawnCdc('127.0.0.72', {
      ...env,
      DAISI_WS_CDC_POSTGRES_URL: postgres.url,
      // A table of the application's own, its ids in columns of its own names (cdc.tables).
      DAISI_WS_CDC_TABLES: JSON.stringify({
        tickets: { subject: 'chats', agent_column: 'owner', chat_column: 'ticket' },
      }),
    });
    await waitFor(async () => (await fetch(`${bridge.http}/ready`)).status === 200, 20_000, 'the bridge is ready');
  });
  after(async () => {
    await bridge?.kill('SIGTERM');
    await pod?.kill();
    await db?.end();
    await postgres?.destroy();
    await nats?.stop();
  });

  const user = async (company: string, agent: string, chat?: string) =>
    TestClient.ready(
      `${userUrl(pod.ws, company, agent, companyToken(company, agent, uid('u')))}${chat ? `&chat_id=${chat}` : ''}`,
    );

  it('inserts, updates and deletes of two companies, in multi-table transactions, reach the right sessions once, in commit order', async () => {
    const alice = await user(acme, 'agent-1', 'c1');
    const bob = await user(beta, 'agent-2', 'c9');
    const admin = await TestClient.ready(
      adminUrl(pod.ws, adminToken({ admin_id: uid('adm'), subscribed_company_id: acme })),
    );
    await db.query('BEGIN');
    await db.query(`INSERT INTO "daisi_${acme}".chats (chat_id, agent_id, title) VALUES ('c1', 'agent-1', 'first')`);
    await db.query(
      `INSERT INTO "daisi_${acme}".messages (message_id, chat_id, agent_id, body, meta, tags, amount, message_date)
       VALUES ('m1', 'c1', 'agent-1', 'hello', '{"a":{"b":[1,2]}}', '{x,"y z"}', 12.50, '2026-12-07 10:00:00+00')`,
    );
    await db.query(`INSERT INTO "daisi_${beta}".chats (chat_id, agent_id, title) VALUES ('c9', 'agent-2', 'other')`);
    await db.query('COMMIT');
    await db.query(`UPDATE "daisi_${acme}".chats SET title = 'renamed', unread = 3 WHERE chat_id = 'c1'`);
    await db.query(`INSERT INTO "daisi_${acme}".agents (agent_id, name, active) VALUES ('agent-1', 'Ann', true)`);
    await db.query(`DELETE FROM "daisi_${acme}".messages WHERE message_id = 'm1'`);

    const got = await alice.waitEvents(4, 10_000);
    assert.deepEqual(
      got.map((f) => [f.payload.row_data.metadata.table_name, f.payload.row_data.action]),
      [
        ['chats', 'insert'],
        ['messages', 'insert'],
        ['chats', 'update'],
        ['messages', 'delete'],
      ],
      'alice: her chat list and her selected chat, in commit order',
    );
    const [chatInsert, messageInsert, chatUpdate, messageDelete] = got.map((f) => f.payload);
    assert.equal(chatInsert.company_id, acme);
    assert.equal(chatInsert.agent_id, 'agent-1');
    assert.equal(chatInsert.chat_id, 'c1');
    assert.match(chatInsert.event_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(messageInsert.message_id, 'm1');
    assert.deepEqual(messageInsert.row_data.record, {
      message_id: 'm1',
      chat_id: 'c1',
      agent_id: 'agent-1',
      body: 'hello',
      meta: { a: { b: [1, 2] } },
      tags: ['x', 'y z'],
      amount: '12.50',
      message_date: '2026-12-07T10:00:00Z',
    });
    assert.equal(messageInsert.row_data.metadata.table_name, 'messages', 'the partition root, not the partition');
    assert.deepEqual(chatUpdate.row_data.changes, { title: 'first', unread: 0 });
    assert.equal(chatUpdate.row_data.record.title, 'renamed');
    assert.equal(messageDelete.row_data.record.body, 'hello', 'a delete carries the row before it');
    assert.equal(
      chatInsert.row_data.metadata.commit_lsn,
      messageInsert.row_data.metadata.commit_lsn,
      'one transaction',
    );
    const seqs = got.map((f) => f.seq!);
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      seqs,
    );

    const [bobs] = [await bob.waitEvents(1, 10_000)];
    assert.deepEqual(
      bobs.map((f) => [f.payload.company_id, f.payload.chat_id]),
      [[beta, 'c9']],
    );
    const admins = await admin.waitEvents(1, 10_000);
    assert.deepEqual(
      admins.map((f) => f.payload.row_data.record.name),
      ['Ann'],
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(alice.events().length, 4, 'nothing more, nothing twice');
    assert.equal(bob.events().length, 1);
    await Promise.all([alice.close(), bob.close(), admin.close()]);
  });

  it('a company schema created while the bridge runs is published without a restart', async () => {
    const gamma = uid('gamma');
    await createCompanySchema(db, gamma);
    const carol = await user(gamma, 'agent-7');
    await db.query(
      `INSERT INTO "daisi_${gamma}".chats (chat_id, agent_id, title) VALUES ('g1', 'agent-7', 'new company')`,
    );
    const [event] = await carol.waitEvents(1, 10_000);
    assert.equal(event!.payload.company_id, gamma);
    await carol.close();
  });

  it('a row whose subject cannot be formed is skipped and counted; the bridge goes on', async () => {
    const dave = await user(acme, 'agent-3');
    await db.query(`INSERT INTO "daisi_${acme}".chats (chat_id, agent_id, title) VALUES ('bad', NULL, 'no agent')`);
    await db.query(`INSERT INTO "daisi_${acme}".chats (chat_id, agent_id, title) VALUES ('bad2', 'a.b', 'dotted')`);
    await db.query(`INSERT INTO "daisi_${acme}".chats (chat_id, agent_id, title) VALUES ('ok', 'agent-3', 'fine')`);
    const [event] = await dave.waitEvents(1, 10_000);
    assert.equal(event!.payload.chat_id, 'ok');
    const metrics = await (await fetch(`${bridge.http}/metrics`)).text();
    assert.match(metrics, /dws_cdc_skipped_total\{table="chats",reason="missing_id"\} 1/);
    assert.match(metrics, /dws_cdc_skipped_total\{table="chats",reason="invalid_id"\} 1/);
    assert.match(metrics, /dws_cdc_active 1/);
    assert.equal(bridge.output.filter((l) => l.includes('rows skipped')).length, 2, 'one line per table and reason');
    await dave.close();
  });

  it('writes only to tables outside the mapping do not pin WAL: the slot follows the server within seconds', async () => {
    await db.query('CREATE TABLE IF NOT EXISTS public.audit (id serial PRIMARY KEY, note text)');
    const before = (await fetch(`${bridge.http}/metrics`).then((r) => r.text())).match(
      /dws_cdc_changes_total\{[^}]*\} \d+/g,
    );
    for (let i = 0; i < 20; i++) await db.query("INSERT INTO public.audit (note) VALUES (repeat('n', 2000))");
    const { rows } = await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    const target = rows[0]!.lsn;
    await waitFor(
      async () => {
        const r = await db.query<{ behind: string }>(
          "SELECT pg_wal_lsn_diff($1, confirmed_flush_lsn)::text AS behind FROM pg_replication_slots WHERE slot_name = 'daisi_slot'",
          [target],
        );
        return Number(r.rows[0]!.behind) <= 0;
      },
      15_000,
      `confirmed_flush_lsn reaches ${target}`,
    );
    const after = (await fetch(`${bridge.http}/metrics`).then((r) => r.text())).match(
      /dws_cdc_changes_total\{[^}]*\} \d+/g,
    );
    assert.deepEqual(after, before, 'nothing published for them');
  });

  it('cdc.tables: a table of its own, with id columns of its own names, reaches the chat list it names', async () => {
    await db.query(`CREATE TABLE "daisi_${acme}".tickets (ticket text PRIMARY KEY, owner text, subject text)`);
    const erin = await user(acme, 'agent-5');
    await db.query(`INSERT INTO "daisi_${acme}".tickets VALUES ('t-1', 'agent-5', 'printer on fire')`);
    const [event] = await erin.waitEvents(1, 10_000);
    assert.equal(event!.payload.agent_id, 'agent-5', 'the owner column gives the agent');
    assert.equal(event!.payload.row_data.metadata.table_name, 'tickets');
    assert.equal(event!.payload.chat_id, 't-1');
    assert.deepEqual(event!.payload.row_data.record, { ticket: 't-1', owner: 'agent-5', subject: 'printer on fire' });
    await erin.close();
  });

  it('a row of every mapped table, re-marshalled by a Go replica and pushed over gRPC, keeps its row_data', async () => {
    // Pod B reads a nats-server the bridge does not write to: what its sessions get came through the push.
    const grpcPort = freePortNumber();
    const elsewhere = await TestNatsServer.start();
    const podB = await spawnGateway('127.0.0.73', {
      DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
      DAISI_WS_NATS_URL: elsewhere.url,
      DAISI_WS_SERVER_GRPC_PORT: String(grpcPort),
    });
    const goReplica = new GoReplicaClient(`127.0.0.73:${grpcPort}`);
    try {
      const token = companyToken(acme, 'agent-9', uid('u'));
      const frank = await TestClient.ready(`${userUrl(podB.ws, acme, 'agent-9', token)}&chat_id=c99`);
      await db.query('BEGIN');
      await db.query(
        `INSERT INTO "daisi_${acme}".chats (chat_id, agent_id, title, unread) VALUES ('c99', 'agent-9', 'é ✓', 2)`,
      );
      await db.query(
        `INSERT INTO "daisi_${acme}".messages (message_id, chat_id, agent_id, body, meta, tags, amount, message_date)
         VALUES ('m99', 'c99', 'agent-9', 'line\nbreak', '{"n":null,"deep":{"x":[true,1.5,"s"]}}', '{a,b}', 0.1,
                 '2026-12-07 10:00:00.5+00')`,
      );
      await db.query(`INSERT INTO "daisi_${acme}".agents (agent_id, name, active) VALUES ('agent-9', 'Nine', false)`);
      await db.query('COMMIT');
      const read = async () =>
        (await readWholeStream(nats.url, stream)).filter((c) => c.event.agent_id === 'agent-9').map((c) => c.event);
      await waitFor(async () => (await read()).length === 3, 10_000, 'the three rows in the stream');
      const stored = await read();
      for (const event of stored) {
        // The Go replica's forwarder: only SPEC §1's fields, row_data through a protobuf Struct.
        const chatId = String(event.chat_id ?? '');
        const request = pushRequestOf({ companyId: acme, agentId: 'agent-9', chatId }, event, 'go-pod-1');
        assert.deepEqual(fromStruct(request.payload!.row_data), event.row_data, 'row_data survives the Struct');
        // agents rows go to admin sessions, which a Go pod serves itself (its queue group); chats and messages are pushed.
        if (event.row_data.metadata.table_name !== 'agents')
          assert.equal((await goReplica.push(request)).success, true);
      }
      const got = await frank.waitEvents(2, 10_000);
      assert.deepEqual(
        got.map((f) => f.payload.row_data),
        stored.filter((e) => e.row_data.metadata.table_name !== 'agents').map((e) => e.row_data),
        'chats and messages rows arrive with row_data intact',
      );
      assert.deepEqual(
        got.map((f) => [f.payload.event_id, f.payload.chat_id, f.payload.event_time]),
        stored.slice(0, 2).map((e) => [e.event_id, e.chat_id, e.event_time]),
      );
      await frank.close();
    } finally {
      goReplica.close();
      await podB.kill();
      await elsewhere.stop();
    }
  });

  it('the whole stream holds every committed change once, in commit order', async () => {
    const changes = await readWholeStream(nats.url, stream);
    const ids = changes.map((c) => c.event.event_id);
    assert.equal(new Set(ids).size, ids.length, 'no change twice');
    const positions = changes.map((c) => {
      const [, lsn, index] = c.event.event_id.split(':');
      const [hi, lo] = lsn!.split('/');
      return ((BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)) * 1_000_000n + BigInt(index!);
    });
    for (let i = 1; i < positions.length; i++) assert.ok(positions[i]! > positions[i - 1]!, `in commit order at ${i}`);
    assert.equal(
      changes.length,
      12,
      'six of the first test, one of the new company, one of the skip test, a ticket, three of the Go push',
    );
  });
});
