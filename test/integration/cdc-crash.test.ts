import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import pg from 'pg';
import { TestNatsServer } from '../../support/nats-server.js';
import { TestPostgres } from '../../support/postgres-server.js';
import { createCompanySchema, readWholeStream, spawnCdc, type CdcProcess } from '../helpers/cdc.js';
import { uid } from '../helpers/env.js';
import { LagProxy } from '../helpers/lag-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { timingBound } from '../helpers/timing.js';

/**
 * The bridge's crash matrix (issue 38): after each fault the whole stream is read, and it must hold
 * every committed change exactly once, in commit order, and nothing else. The stream's duplicate
 * window is 2 s, so a repeat cannot hide behind JetStream's de-duplication.
 */
describe('CDC bridge: crash matrix, each change once and in commit order', {
  skip: !TestPostgres.available() && 'no PostgreSQL 15 binaries',
  timeout: 300_000,
}, () => {
  let postgres: TestPostgres;
  let nats: TestNatsServer;
  let db: pg.Client;
  let stream = '';
  let slot = '';
  let committed: number;
  const bridges: CdcProcess[] = [];
  const company = uid('co');
  const table = `"daisi_${company}".messages`;

  before(async () => {
    [postgres, nats] = await Promise.all([TestPostgres.start(), TestNatsServer.start()]);
    db = new pg.Client(postgres.url);
    await db.connect();
    await createCompanySchema(db, company);
  });
  after(async () => {
    for (const b of bridges) await b.kill();
    await db?.end().catch(() => undefined);
    await postgres?.destroy();
    await nats?.stop();
  });
  beforeEach(async () => {
    for (const b of bridges.splice(0)) await b.kill();
    // A new stream and slot for each row: what it reads afterwards is that row's alone.
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    for (const name of [stream, `CK_${stream}`]) if (stream) await jsm.streams.delete(name).catch(() => undefined);
    if (slot) await db.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
    stream = uid('s');
    slot = uid('slot').toLowerCase();
    committed = 0;
    await jsm.streams.add({ name: stream, subjects: ['wa.>'], duplicate_window: nanos(2000) });
    await nc.close();
  });

  const bridge = async (host: string, pgUrl = postgres.url, natsUrl = nats.url) => {
    const b = await spawnCdc(host, {
      DAISI_WS_NATS_URL: natsUrl,
      DAISI_WS_NATS_STREAM_NAME: stream,
      DAISI_WS_NATS_READ_MODE: 'stream',
      DAISI_WS_CDC_POSTGRES_URL: pgUrl,
      DAISI_WS_CDC_SLOT_NAME: slot,
      DAISI_WS_CDC_CHECKPOINT_STREAM: `CK_${stream}`,
    });
    bridges.push(b);
    // Reading the slot (or standing by): rows committed from now on are the bridge's to publish.
    await waitFor(
      async () => {
        const cdc = (await (await fetch(`${b.http}/ready`)).json()).dependencies.cdc;
        return cdc === 'active' || cdc === 'standby';
      },
      20_000,
      'the bridge reads the slot',
    );
    return b;
  };
  const insert = async (rows: number, client = db) => {
    await client.query(
      `INSERT INTO ${table} (message_id, chat_id, agent_id, body, message_date)
       SELECT 'm' || g || '-' || $2, 'c' || (g % 50), 'agent-' || (g % 7), repeat('x', 40), '2026-12-07'
       FROM generate_series(1, $1) g`,
      [rows, uid('b')],
    );
    committed += rows;
  };
  const streamCount = async () => {
    const nc = await connect({ servers: nats.url });
    try {
      return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
    } finally {
      await nc.close();
    }
  };
  /** Every committed change once, in commit order, nothing else. */
  const checkStream = async () => {
    await waitFor(async () => (await streamCount()) >= committed, 120_000, `${committed} changes in the stream`);
    await new Promise((r) => setTimeout(r, 500)); // anything more that would come
    const changes = await readWholeStream(nats.url, stream);
    const ids = changes.map((c) => c.event.event_id);
    assert.equal(new Set(ids).size, ids.length, 'no change twice');
    assert.equal(changes.length, committed, 'every committed change, nothing else');
    let previous = -1n;
    for (const c of changes) {
      const [, lsn, index] = c.event.event_id.split(':');
      const [hi, lo] = lsn!.split('/');
      const position = ((BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)) * 10_000_000n + BigInt(index!);
      assert.ok(position > previous, `commit order at seq ${c.seq}`);
      previous = position;
    }
  };

  it('killed -9 in the middle of a 100,000-row transaction', async () => {
    await bridge('127.0.0.81');
    await insert(10);
    await waitFor(async () => (await streamCount()) === 10, 20_000);
    const big = insert(100_000);
    await waitFor(async () => (await streamCount()) > 30_000, 120_000, 'part of the big transaction');
    await bridges[0]!.kill('SIGKILL');
    await big;
    await insert(5);
    await bridge('127.0.0.81');
    await checkStream();
  });

  it('killed between the acknowledgements and the flush (the flush never reached Postgres)', async () => {
    const proxy = await LagProxy.start({ host: '127.0.0.1', port: postgres.port }, 0);
    try {
      await bridge('127.0.0.82', `postgres://postgres@127.0.0.1:${proxy.port}/postgres`);
      await insert(20);
      await waitFor(async () => (await streamCount()) === 20, 20_000);
      proxy.hold(); // from now on no standby status reaches the server
      for (let i = 0; i < 5; i++) await insert(100);
      await waitFor(async () => (await streamCount()) === committed, 20_000, 'published and acknowledged');
      await bridges[0]!.kill('SIGKILL');
      const flushed = await db.query('SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1', [
        slot,
      ]);
      assert.ok(flushed.rows[0], 'the slot is there');
    } finally {
      proxy.close();
    }
    // The server sends the five transactions again: none of them may reach the stream twice.
    await bridge('127.0.0.82');
    await insert(3);
    await checkStream();
  });

  it('Postgres stopped (fast, then immediate) and started again under the bridge', async () => {
    await bridge('127.0.0.83');
    await insert(50);
    for (const mode of ['fast', 'immediate'] as const) {
      await db.end();
      await postgres.stop(mode);
      await postgres.run();
      db = new pg.Client(postgres.url);
      await db.connect();
      await insert(50);
    }
    await checkStream();
  });

  it('nats-server killed and restarted under the bridge while rows are committed', async () => {
    await bridge('127.0.0.84');
    await insert(100);
    await waitFor(async () => (await streamCount()) === 100, 20_000);
    await nats.kill();
    await insert(200);
    await nats.run();
    await insert(100);
    await checkStream();
  });

  it('down far longer than the duplicate window: the transactions it is sent again are not published again', async () => {
    const proxy = await LagProxy.start({ host: '127.0.0.1', port: postgres.port }, 0);
    try {
      await bridge('127.0.0.85', `postgres://postgres@127.0.0.1:${proxy.port}/postgres`);
      await insert(10);
      await waitFor(async () => (await streamCount()) === 10, 20_000);
      proxy.hold();
      await insert(300);
      await waitFor(async () => (await streamCount()) === committed, 20_000);
      await bridges[0]!.kill('SIGKILL');
    } finally {
      proxy.close();
    }
    await new Promise((r) => setTimeout(r, 3000)); // past the 2 s duplicate window
    await insert(7);
    await bridge('127.0.0.85');
    await checkStream();
  });

  it('a standby takes over within seconds when the active bridge is killed', async () => {
    const a = await bridge('127.0.0.86');
    await insert(10);
    await waitFor(async () => (await streamCount()) === 10, 20_000);
    const b = await bridge('127.0.0.87');
    await waitFor(async () => (await (await fetch(`${b.http}/ready`)).json()).dependencies.cdc === 'standby', 10_000);
    const metrics = await (await fetch(`${b.http}/metrics`)).text();
    assert.match(metrics, /dws_cdc_active 0/, 'the standby does not read');
    await a.kill('SIGKILL');
    const killedAt = Date.now();
    await insert(40);
    await waitFor(async () => (await streamCount()) === committed, 30_000, 'the standby took over');
    timingBound(Date.now() - killedAt < 15_000, `took over in ${Date.now() - killedAt} ms`);
    await checkStream();
  });
});
