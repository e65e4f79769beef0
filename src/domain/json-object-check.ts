/**
 * Whether bytes that are valid UTF-8 hold one JSON text (RFC 8259) whose value is an object —
 * exactly what `JSON.parse` of their decoding accepts as an object — found by reading the bytes
 * once, without decoding them or building anything.
 *
 * Why: every pod checks every event one of its sessions wants (docs/architecture.md, *How an event travels*), and in a
 * fleet that is each event on most pods. `JSON.parse` builds the whole payload (its strings, numbers, nested objects)
 * and internalises its keys only for the answer "is it an object", and in a pod woken for a burst of events that costs
 * several times what it costs in a loop (docs/benchmarks-log.md, 2026-11-27). The caller checks UTF-8 first (`isUtf8`): bytes of
 * 0x80 and above are only looked at as string content here. Nesting deeper than MAX_DEPTH gets no answer (undefined):
 * the caller asks `JSON.parse`, so the answer stays exact without a recursion as deep as the payload.
 */
export function isJsonObjectBytes(bytes: Uint8Array): boolean | undefined {
  buf = bytes;
  end = bytes.length;
  pos = 0;
  skipSpace();
  if (pos >= end || buf[pos] !== OPEN_BRACE) return done(false);
  let ok: boolean;
  try {
    ok = value(0);
  } catch (err) {
    if (!(err instanceof TooDeep)) throw err;
    buf = EMPTY;
    return undefined;
  }
  if (ok) skipSpace();
  return done(ok && pos === end);
}

const MAX_DEPTH = 64;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const EMPTY = new Uint8Array(0);
const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];
/** After a backslash: `"` `\` `/` b f n r t (u is handled apart). */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

// The reading position, shared by the functions below rather than an object per check. Safe because a check is
// synchronous from its first byte to its verdict (no await, no callback out): one runs at a time in a thread, and a
// worker thread has module state of its own. done() lets go of the payload.
let buf: Uint8Array = EMPTY;
let end = 0;
let pos = 0;

class TooDeep extends Error {}

function done(result: boolean): boolean {
  buf = EMPTY; // the payload is not kept alive by the last check
  return result;
}

function skipSpace(): void {
  while (pos < end) {
    const c = buf[pos]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
    pos++;
  }
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= ZERO && c <= NINE;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= ZERO && c <= NINE) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66));
}

/** One value at `pos` (no space before it); false when it is not one. */
function value(depth: number): boolean {
  if (pos >= end) return false;
  const c = buf[pos]!;
  if (c === OPEN_BRACE) return container(depth + 1, CLOSE_BRACE, property);
  if (c === OPEN_BRACKET) return container(depth + 1, CLOSE_BRACKET, value);
  if (c === QUOTE) return string();
  if (c === MINUS || isDigit(c)) return number();
  if (c === 0x74) return literal(TRUE);
  if (c === 0x66) return literal(FALSE);
  if (c === 0x6e) return literal(NULL);
  return false;
}

/** An object or an array at `pos`: members (`member` reads one) between commas, then `close`. */
function container(depth: number, close: number, member: (depth: number) => boolean): boolean {
  if (depth > MAX_DEPTH) throw new TooDeep();
  pos++; // { or [
  skipSpace();
  if (buf[pos] === close) {
    pos++;
    return true;
  }
  for (;;) {
    if (!member(depth)) return false;
    skipSpace();
    const c = buf[pos++];
    if (c === close) return true;
    if (c !== COMMA) return false;
    skipSpace();
  }
}

/** `"key": value` */
function property(depth: number): boolean {
  if (buf[pos] !== QUOTE || !string()) return false;
  skipSpace();
  if (buf[pos] !== COLON) return false;
  pos++;
  skipSpace();
  return value(depth);
}

/** A string at `pos` (its opening quote): no raw control characters, only JSON's escapes. */
function string(): boolean {
  pos++;
  while (pos < end) {
    const c = buf[pos++]!;
    if (c === QUOTE) return true;
    if (c < 0x20) return false;
    if (c !== BACKSLASH) continue;
    const e = buf[pos++];
    if (e === 0x75) {
      if (!isHex(buf[pos]) || !isHex(buf[pos + 1]) || !isHex(buf[pos + 2]) || !isHex(buf[pos + 3])) return false;
      pos += 4;
    } else if (e === undefined || !SIMPLE_ESCAPES.has(e)) return false;
  }
  return false;
}

/** `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` */
function number(): boolean {
  if (buf[pos] === MINUS) pos++;
  if (buf[pos] === ZERO) pos++;
  else if (isDigit(buf[pos])) while (isDigit(buf[pos])) pos++;
  else return false;
  if (buf[pos] === DOT) {
    pos++;
    if (!isDigit(buf[pos])) return false;
    while (isDigit(buf[pos])) pos++;
  }
  if ((buf[pos]! | 0x20) === 0x65) {
    pos++;
    if (buf[pos] === PLUS || buf[pos] === MINUS) pos++;
    if (!isDigit(buf[pos])) return false;
    while (isDigit(buf[pos])) pos++;
  }
  return true;
}

function literal(word: readonly number[]): boolean {
  for (let k = 0; k < word.length; k++) if (buf[pos + k] !== word[k]) return false;
  pos += word.length;
  return true;
}
