import pg from 'pg';
import { ConfigError, DependencyError, SlotInUse, SlotLost } from '../../domain/errors.js';
import type { ReplicationSlot, SlotEvent, SlotListener, JsonValue } from '../../domain/ports.js';
import { rowOf } from './column-values.js';
import { ensureSlot } from './slot-setup.js';
import { formatLsn } from '../../domain/lsn.js';
import { decodePgOutput, pgTimestampToRfc3339, PG_EPOCH_MICROS, type Relation } from './pgoutput.js';

export interface SlotOptions {
  url: string;
  slot: string;
  publication: string;
  /** Create the publication and the slot when missing (cdc.create_slot). */
  create: boolean;
  /** How often the bridge tells the server where it stands even when nothing changes. */
  statusIntervalMs: number;
}

/** A server that accepts the connection and says nothing is left after this (and tried again). */
export const CONNECT_TIMEOUT_MS = 10_000;
const XLOG_DATA = 0x77; // 'w'
const KEEPALIVE = 0x6b; // 'k'

/**
 * A PostgreSQL logical replication slot read with pgoutput (protocol 1) over node-postgres's
 * replication connection. Why `pg` and not a replication library: the flush position the server
 * may discard WAL behind must move only when the bridge says (`confirm`), never from a timer of a
 * library's own (pg-logical-replication 2.x acknowledges the last *received* LSN on its keepalive
 * timer; README, *Change data capture*). `pg` hands over the CopyBoth stream's messages and sends
 * the standby status updates this class writes.
 */
export class PgReplicationSlot implements ReplicationSlot {
  private client: pg.Client | undefined;
  private confirmed = 0n;
  private timer: NodeJS.Timeout | undefined;
  private readonly relations = new Map<number, Relation>();

  constructor(private readonly options: SlotOptions) {}

  async read(listener: SlotListener): Promise<void> {
    await ensureSlot(this.options.url, this.options.slot, this.options.publication, this.options.create).catch(
      (err: unknown) => {
        throw classify(err, 'setting up the replication slot');
      },
    );
    const client = new pg.Client({
      connectionString: this.options.url,
      replication: 'database',
      options: '-c TimeZone=UTC -c DateStyle=ISO',
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
    } as pg.ClientConfig);
    this.client = client;
    // A dropped connection also fails the query below, which ends the reading: nothing more to do here.
    client.on('error', () => undefined);
    await client.connect().catch((err: unknown) => {
      throw classify(err, 'connecting for replication');
    });
    const connection = (client as unknown as { connection: PgConnection }).connection;
    // The server accepted START_REPLICATION: the slot is this bridge's (CopyBoth mode).
    connection.once('replicationStart', () => listener.started());
    const socket = connection.stream;
    let failed: unknown;
    // Events are handed on synchronously, as pg parses them out of a socket read: the bridge's
    // publishes of one read then leave in one write. Only while an event's promise is pending (the
    // bridge's window is full) do the later ones wait here, and the socket is not read meanwhile.
    const backlog: Array<() => void | Promise<void>> = [];
    let waiting: Promise<void> | undefined;
    const fail = (err: unknown) => {
      failed ??= err;
      backlog.length = 0;
      client.end().catch(() => undefined);
    };
    const drain = () => {
      while (!waiting && backlog.length > 0 && !failed) {
        let result: void | Promise<void>;
        try {
          result = backlog.shift()!();
        } catch (err) {
          fail(err);
          return;
        }
        if (!result) continue;
        socket.pause();
        waiting = result.then(
          () => {
            waiting = undefined;
            socket.resume();
            drain();
          },
          (err: unknown) => {
            waiting = undefined;
            fail(err);
          },
        );
      }
    };
    const handOn = (work: () => void | Promise<void>) => {
      backlog.push(work);
      drain();
    };
    connection.on('copyData', ({ chunk }: { chunk: Buffer }) => {
      if (chunk[0] === KEEPALIVE) {
        const walEnd = chunk.readBigUInt64BE(1);
        const reply = chunk[17] === 1;
        handOn(() => {
          listener.keepalive(walEnd);
          if (reply) this.sendStatus();
        });
        return;
      }
      if (chunk[0] !== XLOG_DATA) return;
      const event = this.eventOf(decodePgOutput(chunk.subarray(25)));
      if (event) handOn(() => listener.event(event));
    });
    const idle = async () => {
      while (waiting || (backlog.length > 0 && !failed)) await (waiting ?? new Promise((r) => setImmediate(r)));
    };
    this.timer = setInterval(() => this.sendStatus(), this.options.statusIntervalMs);
    this.timer.unref();
    const query = `START_REPLICATION SLOT ${ident(this.options.slot)} LOGICAL ${formatLsn(this.confirmed)} (proto_version '1', publication_names '${this.options.publication.replaceAll("'", "''")}')`;
    try {
      await client.query(query);
      await idle();
      if (failed) throw failed;
    } catch (err) {
      await idle().catch(() => undefined);
      throw failed ?? classify(err, 'reading the replication slot');
    } finally {
      clearInterval(this.timer);
      this.client = undefined;
      await client.end().catch(() => undefined);
    }
  }

  confirm(lsn: bigint): void {
    if (lsn <= this.confirmed) return;
    this.confirmed = lsn;
    this.sendStatus();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.client?.end().catch(() => undefined);
  }

  private eventOf(message: ReturnType<typeof decodePgOutput>): SlotEvent | undefined {
    switch (message.tag) {
      case 'relation':
        this.relations.set(message.relation.oid, message.relation);
        return undefined;
      case 'begin':
        return { kind: 'begin', commitLsn: message.finalLsn, commitTime: pgTimestampToRfc3339(message.commitTime) };
      case 'commit':
        return {
          kind: 'commit',
          commitLsn: message.commitLsn,
          endLsn: message.endLsn,
          commitTime: pgTimestampToRfc3339(message.commitTime),
        };
      case 'insert':
      case 'update':
      case 'delete': {
        const relation = this.relations.get(message.relationOid);
        if (!relation) return undefined;
        const base = { kind: 'change' as const, schema: relation.schema, table: relation.table };
        if (message.tag === 'insert') {
          const { row, unchangedToast } = rowOf(relation.columns, message.after);
          return { ...base, action: 'insert', record: row, changes: null, unchangedToast };
        }
        if (message.tag === 'delete') {
          const { row, unchangedToast } = rowOf(relation.columns, message.before);
          return { ...base, action: 'delete', record: row, changes: null, unchangedToast };
        }
        const old = message.before && !message.beforeIsKey ? rowOf(relation.columns, message.before).row : undefined;
        const { row, unchangedToast } = rowOf(relation.columns, message.after, old);
        return { ...base, action: 'update', record: row, changes: old ? changed(old, row) : null, unchangedToast };
      }
      default:
        return undefined;
    }
  }

  /** Standby status update: written and flushed up to what was confirmed; applied likewise. */
  private sendStatus(): void {
    const connection = (this.client as unknown as { connection?: PgConnection } | undefined)?.connection;
    if (!connection) return;
    const status = Buffer.alloc(34);
    status[0] = 0x72; // 'r'
    status.writeBigUInt64BE(this.confirmed, 1);
    status.writeBigUInt64BE(this.confirmed, 9);
    status.writeBigUInt64BE(this.confirmed, 17);
    status.writeBigInt64BE(BigInt(Date.now()) * 1000n - PG_EPOCH_MICROS, 25);
    status[33] = 0;
    connection.sendCopyFromChunk(status);
  }
}

interface PgConnection {
  on(event: 'copyData', listener: (message: { chunk: Buffer }) => void): void;
  once(event: 'replicationStart', listener: () => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  stream: { pause(): void; resume(): void };
}

function changed(old: Record<string, JsonValue>, row: Record<string, JsonValue>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(old)) if (JSON.stringify(v) !== JSON.stringify(row[k])) out[k] = v;
  return out;
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * A pg failure as the project's error: the slot held by another reader (SlotInUse: stand by), the slot lost
 * (SlotLost: an operator acts), a slot or publication missing with cdc.create_slot off (ConfigError), anything
 * else DependencyError with the pg error as its cause.
 */
function classify(err: unknown, operation: string): Error {
  const e = err as { code?: string; message?: string };
  if (e?.code === '55006') return new SlotInUse(e.message ?? 'replication slot is active', { cause: err });
  if (/can no longer get changes|has been invalidated|wal_status/i.test(e?.message ?? ''))
    return new SlotLost(e.message ?? 'replication slot lost', { cause: err });
  if (err instanceof SlotLost || err instanceof ConfigError) return err;
  return new DependencyError('postgres', operation, { cause: err });
}
