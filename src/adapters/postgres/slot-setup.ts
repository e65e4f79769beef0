import pg from 'pg';
import { ConfigError, SlotLost } from '../../domain/errors.js';

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The publication and the slot the bridge reads, created when missing (`cdc.create_slot`) as the
 * seed's deploy/setup.sql meant to (its `CREATE PUBLICATION IF NOT EXISTS` is not PostgreSQL: this
 * looks in pg_publication). A slot whose WAL is gone (`wal_status = lost`, past
 * max_slot_wal_keep_size) is an error for an operator, never replaced by a new slot from "now".
 */
export async function ensureSlot(url: string, slot: string, publication: string, create: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  client.on('error', () => undefined); // the query in flight fails with it
  await client.connect();
  try {
    const pub = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
    if (pub.rowCount === 0) {
      if (!create) throw new ConfigError([`publication ${publication} does not exist (cdc.create_slot is off)`]);
      await client
        .query(`CREATE PUBLICATION ${ident(publication)} FOR ALL TABLES WITH (publish_via_partition_root = true)`)
        .catch((err: { code?: string }) => {
          if (err.code !== '42710') throw err; // created meanwhile by another bridge
        });
    }
    const found = await client.query<{ wal_status: string | null }>(
      'SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    if (found.rowCount === 0) {
      if (!create) throw new ConfigError([`replication slot ${slot} does not exist (cdc.create_slot is off)`]);
      await client
        .query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot])
        .catch((err: { code?: string }) => {
          if (err.code !== '42710') throw err;
        });
    } else if (found.rows[0]?.wal_status === 'lost') {
      throw new SlotLost(
        `replication slot ${slot} lost its WAL (max_slot_wal_keep_size); drop and recreate it by hand`,
      );
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
