import type { JsonValue as Json } from '../../domain/ports.js';
import type { TupleValue } from './pgoutput.js';

/**
 * pgoutput's text form of a column as JSON (docs/protocol.md, *Row changes*): integers as numbers when
 * safe (else strings), numeric as strings, booleans, timestamps as RFC 3339 (the replication session
 * runs in UTC), json/jsonb nested, arrays as arrays, bytea as base64, everything else as text.
 */

const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  numeric: 1700,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  jsonb: 3802,
} as const;

/** Array type → element type, for the arrays of the types above and of text-like types. */
const ARRAY_OF: Record<number, number> = {
  1000: OID.bool,
  1001: OID.bytea,
  1005: OID.int2,
  1007: OID.int4,
  1016: OID.int8,
  1021: OID.float4,
  1022: OID.float8,
  1231: OID.numeric,
  1182: OID.date,
  1115: OID.timestamp,
  1185: OID.timestamptz,
  199: OID.json,
  3807: OID.jsonb,
  1009: 25, // text
  1015: 1043, // varchar
  1014: 1042, // bpchar
  2951: 2950, // uuid
};

export function columnValue(typeOid: number, text: string): Json {
  const element = ARRAY_OF[typeOid];
  if (element !== undefined) return parseArray(text, (item) => scalarValue(element, item));
  return scalarValue(typeOid, text);
}

function scalarValue(typeOid: number, text: string): Json {
  switch (typeOid) {
    case OID.bool:
      return text === 't';
    case OID.int2:
    case OID.int4:
    case OID.oid:
      return Number(text);
    case OID.int8: {
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : text;
    }
    case OID.float4:
    case OID.float8: {
      const n = Number(text);
      return Number.isFinite(n) ? n : text; // NaN, Infinity: as PostgreSQL writes them
    }
    case OID.json:
    case OID.jsonb:
      return JSON.parse(text) as Json;
    case OID.bytea:
      return text.startsWith('\\x') ? Buffer.from(text.slice(2), 'hex').toString('base64') : text;
    case OID.timestamptz:
      return rfc3339(text, true);
    case OID.timestamp:
      return rfc3339(text, false);
    default:
      return text; // numeric, date, text, uuid, …: the text form is exact
  }
}

/** `2024-05-01 10:00:00.123456+00` → `2024-05-01T10:00:00.123456Z`; infinity stays as written. */
function rfc3339(text: string, zoned: boolean): string {
  const m = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d(?::?\d\d)?(?::?\d\d)?)?( BC)?$/.exec(text);
  if (!m || m[4]) return text;
  const offset = m[3]?.replaceAll(':', ''); // +05, +0530 (seconds of an offset are dropped)
  if (!zoned || !offset || /^[+-]0+$/.test(offset)) return `${m[1]}T${m[2]}Z`;
  return `${m[1]}T${m[2]}${offset.slice(0, 3)}:${offset.slice(3, 5) || '00'}`;
}

/** A one- or more-dimensional array literal: `{1,2}`, `{"a b",NULL}`, `{{1,2},{3,4}}`. */
export function parseArray(text: string, element: (item: string) => Json): Json {
  let i = text.startsWith('[') ? text.indexOf('=') + 1 : 0; // dimension decoration: [0:1]={…}
  const parse = (): Json[] => {
    const out: Json[] = [];
    i++; // {
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      if (text[i] === '{') out.push(parse());
      else if (text[i] === '"') {
        let s = '';
        i++;
        while (text[i] !== '"') {
          if (text[i] === '\\') i++;
          s += text[i++];
        }
        i++;
        out.push(element(s));
      } else {
        const start = i;
        while (text[i] !== ',' && text[i] !== '}') i++;
        const raw = text.slice(start, i);
        out.push(raw === 'NULL' ? null : element(raw));
      }
      if (text[i] === ',') i++;
      else {
        i++; // }
        return out;
      }
    }
  };
  return parse();
}

/** A row as JSON by column name; an unchanged TOASTed value from `old` when it has one, else marked. */
export function rowOf(
  columns: ReadonlyArray<{ name: string; typeOid: number }>,
  values: readonly TupleValue[],
  old?: Record<string, Json>,
): { row: Record<string, Json>; unchangedToast: string[] } {
  const row: Record<string, Json> = {};
  const unchangedToast: string[] = [];
  for (const [i, column] of columns.entries()) {
    const v = values[i];
    if (!v || v.kind === 'n') row[column.name] = null;
    else if (v.kind === 'u') {
      if (old && column.name in old) row[column.name] = old[column.name]!;
      else {
        row[column.name] = null;
        unchangedToast.push(column.name);
      }
    } else row[column.name] = columnValue(column.typeOid, v.text);
  }
  return { row, unchangedToast };
}
