/**
 * The pgoutput logical replication protocol, version 1 (PostgreSQL's "Logical Replication Message
 * Formats"): the messages of one XLogData payload, decoded. Tuple values stay in pgoutput's text
 * form here; column-values.ts turns them into JSON by type.
 */

/** 'n': SQL null; 'u': an unchanged TOASTed value the message does not carry; 't': the text form. */
export type TupleValue = { kind: 'n' } | { kind: 'u' } | { kind: 't'; text: string };

export interface RelationColumn {
  name: string;
  typeOid: number;
  /** Part of the replica identity (the key, or every column under REPLICA IDENTITY FULL). */
  key: boolean;
}

export interface Relation {
  oid: number;
  schema: string;
  table: string;
  /** 'd' default (primary key), 'n' nothing, 'f' full, 'i' index. */
  replicaIdentity: string;
  columns: RelationColumn[];
}

export type PgOutputMessage =
  | { tag: 'begin'; finalLsn: bigint; commitTime: bigint; xid: number }
  | { tag: 'commit'; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | { tag: 'relation'; relation: Relation }
  | { tag: 'insert'; relationOid: number; after: TupleValue[] }
  | { tag: 'update'; relationOid: number; before?: TupleValue[]; beforeIsKey: boolean; after: TupleValue[] }
  | { tag: 'delete'; relationOid: number; before: TupleValue[]; beforeIsKey: boolean }
  | { tag: 'truncate'; relationOids: number[] }
  | { tag: 'other'; byte: number };

/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
export const PG_EPOCH_MICROS = 946_684_800_000_000n;

class Reader {
  offset = 0;
  constructor(private readonly buf: Buffer) {}
  u8(): number {
    return this.buf.readUInt8(this.offset++);
  }
  i16(): number {
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  i32(): number {
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64BE(this.offset);
    this.offset += 8;
    return v;
  }
  i64(): bigint {
    const v = this.buf.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.offset);
    const s = this.buf.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return s;
  }
  bytes(n: number): string {
    const s = this.buf.toString('utf8', this.offset, this.offset + n);
    this.offset += n;
    return s;
  }
}

export function decodePgOutput(buf: Buffer): PgOutputMessage {
  const r = new Reader(buf);
  const byte = r.u8();
  switch (String.fromCharCode(byte)) {
    case 'B':
      return { tag: 'begin', finalLsn: r.u64(), commitTime: r.i64(), xid: r.u32() };
    case 'C': {
      r.u8(); // flags
      return { tag: 'commit', commitLsn: r.u64(), endLsn: r.u64(), commitTime: r.i64() };
    }
    case 'R': {
      const oid = r.u32();
      const schema = r.cstring();
      const table = r.cstring();
      const replicaIdentity = String.fromCharCode(r.u8());
      const count = r.i16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < count; i++) {
        const flags = r.u8();
        const name = r.cstring();
        const typeOid = r.u32();
        r.i32(); // type modifier
        columns.push({ name, typeOid, key: (flags & 1) === 1 });
      }
      return { tag: 'relation', relation: { oid, schema, table, replicaIdentity, columns } };
    }
    case 'I': {
      const relationOid = r.u32();
      r.u8(); // 'N'
      return { tag: 'insert', relationOid, after: tuple(r) };
    }
    case 'U': {
      const relationOid = r.u32();
      let kind = String.fromCharCode(r.u8());
      let before: TupleValue[] | undefined;
      let beforeIsKey = false;
      if (kind === 'K' || kind === 'O') {
        beforeIsKey = kind === 'K';
        before = tuple(r);
        kind = String.fromCharCode(r.u8()); // 'N'
      }
      return { tag: 'update', relationOid, before, beforeIsKey, after: tuple(r) };
    }
    case 'D': {
      const relationOid = r.u32();
      const kind = String.fromCharCode(r.u8());
      return { tag: 'delete', relationOid, beforeIsKey: kind === 'K', before: tuple(r) };
    }
    case 'T': {
      const count = r.i32();
      r.u8(); // options
      const relationOids: number[] = [];
      for (let i = 0; i < count; i++) relationOids.push(r.u32());
      return { tag: 'truncate', relationOids };
    }
    default:
      return { tag: 'other', byte };
  }
}

function tuple(r: Reader): TupleValue[] {
  const count = r.i16();
  const values: TupleValue[] = [];
  for (let i = 0; i < count; i++) {
    const kind = String.fromCharCode(r.u8());
    if (kind === 'n') values.push({ kind: 'n' });
    else if (kind === 'u') values.push({ kind: 'u' });
    else {
      const length = r.i32();
      values.push({ kind: 't', text: r.bytes(length) });
    }
  }
  return values;
}

/** A pgoutput timestamp (µs since 2000-01-01) as RFC 3339 with microseconds, in UTC. */
export function pgTimestampToRfc3339(micros: bigint): string {
  const unixMicros = micros + PG_EPOCH_MICROS;
  const ms = unixMicros / 1000n;
  const iso = new Date(Number(ms)).toISOString(); // …sss Z
  const frac = ((unixMicros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  return `${iso.slice(0, 19)}.${frac.toString().padStart(6, '0')}Z`;
}
