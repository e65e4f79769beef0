import { connect as dial, type Socket } from 'node:net';
import { natsFailure } from './failure.js';

/** What arrives on a consumer's deliver subject. */
export interface InboxListener {
  /**
   * An event: its subject, the reply subject, the producer's bytes and the message's header block (empty without
   * headers), both valid during the call only.
   */
  data(subject: string, reply: string, data: Uint8Array, head: Uint8Array): void;
  /** A status message of the server on the inbox itself (flow control, heartbeat, 409). */
  control(code: number, description: string, header: (name: string) => string, reply: string): void;
  /** The subscription stopped delivering (its connection closed or failed). */
  lost(err: Error): void;
}

export interface InboxSubscription {
  /** Publishes an empty message (the answer to flow control, the nudge of a stalled consumer). */
  respond(subject: string): void;
  close(): void;
}

/** The server's refusals that mean this wire cannot be used here at all (the caller falls back). */
export class InboxWireUnsupported extends Error {}

const CR = 13;
const LF = 10;
const SPACE = 32;
const TAB = 9;
const CONNECT_TIMEOUT_MS = 5000;
const READ_BUFFER_BYTES = 256 * 1024;
/** How long reading pauses on a busy stream (see onRead). */
const COALESCE_MS = 1;

interface ServerInfo {
  tls_required?: boolean;
  auth_required?: boolean;
  headers?: boolean;
}

/**
 * One plain TCP connection to nats-server that carries a reader's subscriptions: the deliver subject
 * of a push consumer (stream reading), or the republished subjects of the pod's interest. It speaks
 * just enough of the client protocol for that (INFO, CONNECT, SUB, UNSUB, PUB of empty replies,
 * PING/PONG, MSG/HMSG) and hands each message on without building a message object, a header map
 * or a string it does not need.
 *
 * Why a second connection: reading is most of what a pod does with an event it only passes on
 * (docs/architecture.md, *How an event travels*). nats.js's general-purpose parser costs 10–20 µs an
 * event here; this one costs a few (bench/reader-cost.ts), and its reads coalesce on a busy
 * connection. A server that wants TLS or credentials makes `open` throw InboxWireUnsupported and the
 * reader uses the nats.js connection instead.
 */
export class InboxWire implements InboxSubscription {
  private rest: Buffer | undefined;
  private closed = false;
  private greeted: ((info: ServerInfo | undefined) => void) | undefined;
  /** One per PING sent, in order: the server answers each with a PONG once it has handled what came before. */
  private readonly pongWaiters: Array<(err?: Error) => void> = [];
  private ready = false;
  private nextSid = 2;
  /**
   * The sids subscribed now. What the server matched before it read an UNSUB still arrives after it:
   * such messages are dropped here, so a subscription dropped and taken again sees only its own.
   */
  private readonly sids = new Set<number>();
  private lastReadMs = 0;
  private resumedMs = 0;
  private resumeTimer: NodeJS.Timeout | undefined;
  private readonly resume = () => {
    this.resumeTimer = undefined;
    this.resumedMs = performance.now();
    if (!this.closed) this.socket.resume();
  };

  private constructor(
    /** The server it is connected to (host:port). */
    readonly server: string,
    private readonly socket: Socket,
    private readonly inbox: string,
    private readonly listener: InboxListener,
  ) {
    // The inbox may be a wildcard (a plain subscription, `wa.>`): its messages are data on sid 1.
    if (inbox) this.sids.add(1);
  }

  /**
   * Connects to `server` (host:port), subscribes to `inbox` (sid 1; '' for none: `subscribe` adds subjects)
   * and resolves once the server confirmed it.
   */
  static open(server: string, inbox: string, name: string, listener: InboxListener): Promise<InboxWire> {
    const { host, port } = hostPort(server);
    let wire!: InboxWire;
    const socket = dial({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
        callback: (n, buf) => wire.onRead((buf as Buffer).subarray(0, n)),
      },
    });
    wire = new InboxWire(server, socket, inbox, listener);
    return new Promise<InboxWire>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`no answer from nats at ${server} within ${CONNECT_TIMEOUT_MS} ms`)),
        CONNECT_TIMEOUT_MS,
      );
      const fail = (err: Error) => {
        clearTimeout(timer);
        wire.close();
        // Unsupported is not a failure: the reader reads through nats.js instead.
        reject(err instanceof InboxWireUnsupported ? err : natsFailure(`connecting to ${server}`, err));
      };
      // The server speaks first: one INFO line saying what it requires.
      wire.greeted = (info) => {
        if (!info) return fail(new Error(`nats at ${server} did not greet with INFO`));
        if (info.tls_required || info.auth_required || info.headers === false) {
          return fail(
            new InboxWireUnsupported(
              `nats at ${server} requires ` +
                `${info.tls_required ? 'TLS' : info.auth_required ? 'credentials' : 'headers off'}`,
            ),
          );
        }
        wire.pongWaiters.push((err) => {
          if (err) return fail(err);
          clearTimeout(timer);
          wire.ready = true;
          resolve(wire);
        });
        const connect = {
          verbose: false,
          pedantic: false,
          lang: 'nodejs',
          version: 'daisi-ws',
          protocol: 1,
          headers: true,
          no_responders: false,
          name,
        };
        socket.write(`CONNECT ${JSON.stringify(connect)}\r\n${inbox ? `SUB ${inbox} 1\r\n` : ''}PING\r\n`);
      };
      socket.on('error', (err) => (wire.ready ? wire.lose(err) : fail(err)));
      socket.on('close', () => {
        const err = new Error(`nats connection of ${inbox || name} closed`);
        wire.ready ? wire.lose(err) : fail(err);
      });
    });
  }

  respond(subject: string): void {
    if (!this.closed) this.socket.write(`PUB ${subject} 0\r\n\r\n`);
  }

  /** Subscribes to one more subject (wildcards allowed); the answer is its sid, for `unsubscribe`. */
  subscribe(subject: string): number {
    const sid = this.nextSid++;
    this.sids.add(sid);
    if (!this.closed) this.socket.write(`SUB ${subject} ${sid}\r\n`);
    return sid;
  }

  unsubscribe(sid: number): void {
    this.sids.delete(sid);
    if (!this.closed) this.socket.write(`UNSUB ${sid}\r\n`);
  }

  /** Resolves once the server has handled everything written before (a PING's PONG). */
  flush(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the reader connection is closed'));
    return new Promise<void>((resolve, reject) => {
      this.pongWaiters.push((err) => (err ? reject(err) : resolve()));
      this.socket.write('PING\r\n');
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.resumeTimer);
    this.socket.destroy();
    const err = new Error('the reader connection is closed');
    for (const waiter of this.pongWaiters.splice(0)) waiter(err);
  }

  private lose(err: Error): void {
    if (this.closed) return;
    this.close();
    this.listener.lost(err);
  }

  /**
   * One read of the socket (into the one buffer every read reuses). Returning false stops reading
   * for COALESCE_MS: on a busy stream — the previous read was less than that ago, or this one
   * came right as reading resumed — what arrives meanwhile waits in the socket and is taken in
   * one read. Waking up for a read costs far more than parsing a message, and a pod is woken for
   * every event of the fleet, most of them for other pods' sessions (see the class comment).
   */
  private onRead(chunk: Buffer): boolean {
    if (this.greeted) {
      if (!this.greet(chunk)) return true;
    } else this.onData(chunk);
    if (this.closed) return true;
    const now = performance.now();
    const busy = now - this.lastReadMs < COALESCE_MS || now - this.resumedMs < 0.5;
    this.lastReadMs = now;
    if (!busy) return true;
    this.resumeTimer = setTimeout(this.resume, COALESCE_MS);
    return false;
  }

  /** Collects the INFO line; false until it is complete. */
  private greet(chunk: Buffer): boolean {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    const eol = buf.indexOf(LF);
    if (eol < 0) {
      this.rest = Buffer.from(buf);
      return false;
    }
    const greeted = this.greeted!;
    this.greeted = undefined;
    this.rest = undefined;
    greeted(parseInfo(buf.toString('latin1', 0, eol).trim()));
    if (eol + 1 < buf.length && !this.closed) this.onData(buf.subarray(eol + 1));
    return true;
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    const end = buf.length;
    let pos = 0;
    while (pos < end && !this.closed) {
      const eol = buf.indexOf(LF, pos);
      if (eol < 0) break;
      const first = buf[pos];
      if (first === 77 /* M */ || first === 72 /* H */) {
        const next = this.message(buf, pos, eol, first === 72);
        if (next < 0) break;
        pos = next;
        continue;
      }
      if (first === 80 /* P */) {
        if (buf[pos + 1] === 73 /* PING */) this.socket.write('PONG\r\n');
        else this.pong();
      } else if (first === 45 /* -ERR */) {
        const reason = buf.toString('latin1', pos, eol).trim();
        this.ready
          ? this.lose(new Error(`nats says ${reason}`))
          : this.pong(new Error(`nats refused the reader's connection: ${reason}`));
      }
      // INFO updates and +OK need nothing.
      pos = eol + 1;
    }
    // Keep only the unfinished message, copied so a chunk is not held for a few bytes of it.
    if (pos < end) this.rest = Buffer.from(buf.subarray(pos));
  }

  private pong(err?: Error): void {
    this.pongWaiters.shift()?.(err);
  }

  /**
   * `MSG <subject> <sid> [reply] <size>` or `HMSG <subject> <sid> [reply] <header size> <total size>`,
   * then the bytes and CRLF. Returns where the next line starts, or -1 when the bytes have not all
   * arrived yet.
   */
  private message(buf: Buffer, pos: number, eol: number, withHeaders: boolean): number {
    const lineEnd = buf[eol - 1] === CR ? eol - 1 : eol;
    // Up to five fields after the verb; their starts and ends.
    const starts = FIELD_STARTS;
    const ends = FIELD_ENDS;
    let count = 0;
    let i = pos + (withHeaders ? 5 : 4);
    while (i < lineEnd && count < 5) {
      while (i < lineEnd && (buf[i] === SPACE || buf[i] === TAB)) i++;
      if (i >= lineEnd) break;
      starts[count] = i;
      while (i < lineEnd && buf[i] !== SPACE && buf[i] !== TAB) i++;
      ends[count++] = i;
    }
    const sizes = withHeaders ? 2 : 1;
    const hasReply = count === 3 + sizes;
    if (count < 2 + sizes) {
      this.lose(new Error(`nats sent a malformed line: ${buf.toString('latin1', pos, lineEnd)}`));
      return -1;
    }
    const total = decimal(buf, starts[count - 1]!, ends[count - 1]!);
    const headerSize = withHeaders ? decimal(buf, starts[count - 2]!, ends[count - 2]!) : 0;
    const start = eol + 1;
    if (start + total + 2 > buf.length) return -1;
    const subject = buf.toString('latin1', starts[0]!, ends[0]!);
    const reply = hasReply ? buf.toString('latin1', starts[2]!, ends[2]!) : '';
    if (subject === this.inbox) this.status(buf, start, start + headerSize, reply);
    else if (this.sids.has(decimal(buf, starts[1]!, ends[1]!)))
      this.listener.data(
        subject,
        reply,
        buf.subarray(start + headerSize, start + total),
        buf.subarray(start, start + headerSize),
      );
    return start + total + 2;
  }

  /** `NATS/1.0 100 Idle Heartbeat` and its header lines. */
  private status(buf: Buffer, from: number, to: number, reply: string): void {
    const lines = buf.toString('latin1', from, to).split('\r\n');
    const statusLine = lines[0] ?? '';
    const code = Number(statusLine.slice(9, 12)) || 0;
    const description = statusLine.slice(13).trim();
    const header = (name: string): string => {
      const prefix = `${name.toLowerCase()}:`;
      for (let l = 1; l < lines.length; l++)
        if (lines[l]!.toLowerCase().startsWith(prefix)) return lines[l]!.slice(prefix.length).trim();
      return '';
    };
    this.listener.control(code, description, header, reply);
  }
}

// Scratch space for the fields of one MSG/HMSG line: filled and read within one synchronous call of message(), never
// across calls, so sharing them is safe (and spares two arrays per message read).
const FIELD_STARTS = new Int32Array(5);
const FIELD_ENDS = new Int32Array(5);

/**
 * The value of a numeric header (`Nats-Sequence: 42`) in a header block, or 0 when it is absent:
 * one native search for the name, no header map.
 */
export function headerNumber(head: Uint8Array, name: Buffer): number {
  const buf = head as Buffer;
  const at = Buffer.prototype.indexOf.call(buf, name);
  if (at < 0) return 0;
  let i = at + name.length;
  while (buf[i] === SPACE || buf[i] === TAB) i++;
  let end = i;
  while (end < buf.length && buf[end]! >= 48 && buf[end]! <= 57) end++;
  return decimal(buf as Buffer, i, end);
}

/** The needle `headerNumber` looks for: the name after a line break, with its colon. */
export const headerName = (name: string): Buffer => Buffer.from(`\r\n${name}:`, 'latin1');

function decimal(buf: Buffer, from: number, to: number): number {
  let value = 0;
  for (let i = from; i < to; i++) value = value * 10 + (buf[i]! - 48);
  return value;
}

function hostPort(server: string): { host: string; port: number } {
  const url = new URL(server.includes('://') ? server : `nats://${server}`);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) || 4222 };
}

function parseInfo(line: string): ServerInfo | undefined {
  if (!line.startsWith('INFO')) return undefined;
  try {
    return JSON.parse(line.slice(4)) as ServerInfo;
  } catch {
    return undefined;
  }
}
