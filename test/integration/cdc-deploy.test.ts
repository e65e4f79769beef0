import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { TestPostgres } from '../../support/postgres-server.js';

/** The compose file's database set-up (deploy/postgres/init.sql), run in a real PostgreSQL 15. */
describe('deploy/postgres/init.sql', { skip: !TestPostgres.available() && 'no PostgreSQL 15 binaries' }, () => {
  let postgres: TestPostgres;
  let db: pg.Client;

  before(async () => {
    postgres = await TestPostgres.start();
    db = new pg.Client(postgres.url);
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await postgres?.destroy();
  });

  it('creates the sample company schema the bridge maps, every table with REPLICA IDENTITY FULL', async () => {
    await db.query(readFileSync(new URL('../../deploy/postgres/init.sql', import.meta.url), 'utf8'));
    const { rows } = await db.query<{ relname: string; relreplident: string }>(
      `SELECT c.relname, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'daisi_acme' AND c.relkind = 'r' ORDER BY c.relname`,
    );
    assert.deepEqual(
      rows.map((r) => [r.relname, r.relreplident]),
      [
        ['agents', 'f'],
        ['chats', 'f'],
        ['messages_default', 'f'],
      ],
    );
    await db.query(
      "INSERT INTO daisi_acme.messages (message_id, chat_id, agent_id, body, message_date) VALUES ('m', 'c', 'a', 'b', now())",
    );
  });
});
