import { JetStreamApiError, jetstreamManager, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { TimeoutError, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { systemClock, type Clock } from '../../domain/clock.js';
import { STREAM_SUBJECTS, subjectMatches } from '../../domain/events.js';
import { readHistory } from './history-read.js';
import { headerName, headerNumber, InboxWire, InboxWireUnsupported } from './inbox-wire.js';
import { epochOf } from './ordered-reader.js';
import { probeWithin, STALL_MS } from './stall.js';
import { natsFailure } from './failure.js';

export interface InterestReaderOptions {
  stream: string;
  /** The republished subjects are `<prefix>.wa.…` (the stream's `republish` destination). */
  prefix: string;
  /** Where to start: the stream's next event, or right after a previous reader's position. */
  start: { kind: 'next' } | { kind: 'seq'; seq: number };
  /** The epoch that position belongs to. */
  epoch?: string;
  /** How often the stream is looked at (deleted, recreated). */
  checkMs: number;
  /** false: live events through the nats.js connection instead of a connection of the reader's own (InboxWire). */
  ownConnection?: boolean;
  clock?: Clock;
  description: string;
}

export interface InterestReaderEvents {
  /** Every event of the pod's interest, each subject in stream order, exactly once. */
  event(subject: string, data: Uint8Array, seq: number): void;
  /** Reading begins after `seq` (the sink's position starts there). */
  startingAt(seq: number): void;
  /** Events of `subject` from `fromSeq` on were lost in transit and come late (read from the stream). */
  lost(subject: string, fromSeq: number): void;
  /** Everything since the reader's position is read again from the stream (a reconnect). */
  reset(reason: string): void;
  epochChanged(epoch: string): void;
  /** The stream is gone (deleted under the pod): create it again if the pod may. */
  missing(): void;
  failed(err: unknown): void;
}

interface PatternSubscription {
  /** A nats.js subscription, or the sid on the reader's own connection (undefined while it is down). */
  sub: Subscription | number | undefined;
  /** Every event of the pattern after this comes live (what was stored before the subscription was in place does not). */
  liveFrom: number | undefined;
  ready: Promise<number>;
}

interface Held {
  subject: string;
  data: Uint8Array;
  seq: number;
  prev: number;
}

const SEQUENCE = 'Nats-Sequence';
const LAST_SEQUENCE = 'Nats-Last-Sequence';
const SUBJECT = 'Nats-Subject';
const SEQUENCE_NEEDLE = headerName(SEQUENCE);
const LAST_SEQUENCE_NEEDLE = headerName(LAST_SEQUENCE);
const STREAM_NOT_FOUND = 10059;
/** Live events held while the stream is read (a repair, a read of the missed); beyond this they are read from the stream too. */
const HELD_MAX_BYTES = 8 * 1024 * 1024;
const RETRY_MS = 1000;
/**
 * How long a request of the reader's (a look at the stream, a read's consumer) may take. Short, because a
 * clustered server that stopped answering holds requests without refusing them: the stream's or the meta
 * group's leader until the others elect a new one (6–9 s on nats-server 2.10), and a read's one-replica
 * consumer, which the meta leader places on any of the stream's servers, the silent one included, until
 * it is seen to be gone. A request sent again after a short wait lands elsewhere two times in three.
 */
const REQUEST_TIMEOUT_MS = 2000;

const isWildcard = (pattern: string) => pattern.includes('*') || pattern.includes('>');

/**
 * Interest-based reading (docs/architecture.md, *How an event travels*): the stream republishes each
 * event it stores on `<prefix>.<subject>` with its sequence and the previous sequence stored on the same
 * subject; the pod subscribes, on plain NATS, only to the subjects its sessions want. NATS sends it
 * nothing else.
 *
 * Nothing is skipped and nothing comes twice:
 * - a pattern's live-from is the stream's last sequence once its subscription is in place: everything
 *   after it comes live, and a replay reads what lies before it from the stream;
 * - a live event whose `Nats-Last-Sequence` is not the last this pod had of its subject shows events
 *   lost in transit: they are read from the stream first, while later live events wait;
 * - from a disconnect until the read of the missed after the reconnect, live events wait: it reads
 *   everything of the interest after the reader's position, then they go on (repeats dropped);
 * - a stream deleted or recreated is noticed by a look at it every `checkMs`.
 */
export class InterestReader {
  /** Everything of the interest up to here has been handed on. */
  position = 0;
  /** The highest sequence the stream is known to have reached: the position, or its last look at the stream. */
  private seen = 0;
  /** Since when the stream has been missing (reported on /ready). */
  restartingSince: number | undefined;
  private epochValue: string;
  private readonly interests = new Map<string, PatternSubscription>();
  /**
   * The patterns with wildcards (admin scopes): a subject is looked up among the others by name, so a
   * pod holding thousands of chats pays one map lookup per event, not a match against every pattern.
   */
  private readonly wildcards = new Set<string>();
  /** Per subject of the interest, the last sequence handed on. */
  private readonly last = new Map<string, number>();
  /** Reads of the stream in progress: live events wait for them. */
  private holds = 0;
  /** Between a disconnect and the read of the missed after the reconnect. */
  private offline = false;
  private held: Held[] = [];
  private heldBytes = 0;
  /**
   * Live events were let go while held (memory bound), or a repair failed: everything of the interest
   * after the position is read from the stream again.
   */
  private readAgain = false;
  private measuring: Promise<number> | undefined;
  private jsm: JetStreamManager | undefined;
  private stopped = false;
  private checker: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly clock: Clock;
  private statuses: (AsyncIterable<{ type: string }> & { stop?(): void }) | undefined;
  /**
   * Live events on a connection of the reader's own (InboxWire): a few µs an event against nats.js's
   * 10–20 (bench/reader-cost.ts), which counts in a fleet whose pods share agents. Undefined while it is
   * opened again, and for good when the server wants TLS or credentials (nats.js then).
   */
  private wire: InboxWire | undefined;
  private useWire: boolean;
  private reopening = false;
  private probing = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: InterestReaderOptions,
    private readonly events: InterestReaderEvents,
  ) {
    this.epochValue = options.epoch ?? '';
    this.clock = options.clock ?? systemClock;
    this.useWire = options.ownConnection !== false;
  }

  get epoch(): string {
    return this.epochValue;
  }

  get head(): number {
    return Math.max(this.position, this.seen);
  }

  /**
   * Finds the position, subscribes to `patterns`, and reads from the stream what a previous reader
   * (another connection) left unread.
   */
  async start(patterns: Iterable<string>): Promise<void> {
    this.jsm = await jetstreamManager(this.nc, { timeout: REQUEST_TIMEOUT_MS });
    if (this.useWire) await this.openWire();
    else void this.watchConnection();
    const info = await this.jsm.streams.info(this.options.stream);
    const epoch = epochOf(this.options.stream, info.created);
    const start = this.options.start;
    const recreated = this.epochValue !== '' && epoch !== this.epochValue;
    const continuing = start.kind === 'seq' && !recreated;
    this.position = continuing ? start.seq - 1 : info.state.last_seq;
    if (recreated) this.events.epochChanged(epoch);
    this.epochValue = epoch;
    this.seen = info.state.last_seq;
    this.events.startingAt(this.position);
    // Continuing: readMissed below reads everything of these after the position.
    for (const pattern of patterns) this.add(pattern, continuing ? this.position : undefined);
    if (this.wire) await this.wire.flush(); // the subscriptions are in place before the stream is read
    if (continuing && info.state.last_seq > this.position) await this.readMissed('new connection');
    this.checker = setInterval(() => {
      void this.check();
      void this.probeWire();
    }, this.options.checkMs);
    this.checker.unref();
  }

  /** The reader's own connection to a server that stopped answering: opened again (where nats.js is, once it moved). */
  private async probeWire(): Promise<void> {
    const wire = this.wire;
    if (!wire || this.probing) return;
    this.probing = true;
    try {
      if ((await probeWithin(wire.flush(), STALL_MS)) !== 'stalled' || wire !== this.wire) return;
      wire.close();
      this.wireLost(new Error(`no answer from the server within ${STALL_MS} ms`), wire.server);
    } finally {
      this.probing = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.checker);
    this.statuses?.stop?.();
    for (const { sub } of this.interests.values()) if (typeof sub === 'object') sub.unsubscribe();
    this.wire?.close();
    this.interests.clear();
    this.wildcards.clear();
  }

  /** Subscribes to a pattern's republished events; its live-from is known once the server has the subscription. */
  add(pattern: string, liveFrom?: number): void {
    if (this.interests.has(pattern) || this.stopped) return;
    const interest: PatternSubscription = {
      sub: this.subscribe(pattern),
      liveFrom,
      ready: Promise.resolve(liveFrom ?? 0),
    };
    this.interests.set(pattern, interest);
    if (isWildcard(pattern)) this.wildcards.add(pattern);
    if (liveFrom === undefined) interest.ready = this.measureLiveFrom(interest);
  }

  private subscribe(pattern: string): Subscription | number | undefined {
    const subject = `${this.options.prefix}.${pattern}`;
    if (this.useWire) return this.wire?.subscribe(subject);
    return this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err || this.stopped) return;
        const h = msg.headers;
        const seq = Number(h?.get(SEQUENCE));
        if (!Number.isSafeInteger(seq) || seq <= 0) return;
        const prev = Number(h?.get(LAST_SEQUENCE) || 0);
        this.live(h?.get(SUBJECT) || msg.subject.slice(this.options.prefix.length + 1), msg.data, seq, prev);
      },
    });
  }

  private live(subject: string, data: Uint8Array, seq: number, prev: number): void {
    if (this.holding()) this.hold({ subject, data, seq, prev });
    else this.take(subject, data, seq, prev);
  }

  /**
   * Opens the reader's own connection and subscribes the interest on it; the fallback to nats.js for
   * good when the server refuses such a connection.
   */
  private async openWire(): Promise<void> {
    const skip = this.options.prefix.length + 1;
    let opened: InboxWire | undefined;
    try {
      opened = await InboxWire.open(this.nc.getServer(), '', this.options.description, {
        data: (subject, _reply, data, head) => {
          if (this.stopped) return;
          const seq = headerNumber(head, SEQUENCE_NEEDLE);
          if (seq > 0) this.live(subject.slice(skip), data, seq, headerNumber(head, LAST_SEQUENCE_NEEDLE));
        },
        control: () => undefined,
        lost: (err) => {
          if (opened === this.wire) this.wireLost(err);
        },
      });
      this.wire = opened;
    } catch (err) {
      if (!(err instanceof InboxWireUnsupported)) throw err;
      // nats.js from now on, and its reconnects are the ones that hold live events and catch up.
      this.useWire = false;
      void this.watchConnection();
    }
    for (const [pattern, interest] of this.interests) interest.sub = this.subscribe(pattern);
  }

  /**
   * The own connection dropped (the server restarted, or cut it off as a slow consumer): live events wait
   * from now on; once it is open again with every subscription in place, everything since the position is
   * read from the stream first. A server that stopped answering (`silent`) is not dialled again while the
   * nats.js connection is still on it: the supervisor moves that within STALL_MS, and the own connection follows.
   */
  private wireLost(err: Error, silent?: string): void {
    if (this.stopped || this.reopening) return;
    this.reopening = true;
    this.wire = undefined;
    this.offline = true;
    void (async () => {
      for (let attempt = 0; !this.stopped; attempt++) {
        try {
          if (silent) await this.awayFrom(silent);
          await this.openWire();
          await this.wire?.flush();
          if (this.stopped) return;
          this.reopening = false;
          const readingMissed = this.readMissed(`reader connection lost (${err.message})`);
          this.offline = false;
          void readingMissed;
          return;
        } catch (failure) {
          // Said once per outage; the tries go on every RETRY_MS until the server answers.
          if (attempt === 0) this.events.failed(natsFailure('opening the reader connection again', failure));
          this.wire?.close();
          this.wire = undefined;
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
        }
      }
    })();
  }

  /** Until the nats.js connection is on another server than `server`, or `server` answers it again. */
  private async awayFrom(server: string): Promise<void> {
    while (!this.stopped && this.nc.getServer() === server) {
      const probe = await probeWithin(this.nc.flush(), STALL_MS);
      if (probe === 'answered') return;
      if (probe === 'failed') await new Promise((resolve) => setTimeout(resolve, RETRY_MS / 10).unref());
    }
  }

  /** Measures a new subscription's live-from, again after a failure (NATS away: reading the missed may settle it first). */
  private async measureLiveFrom(interest: PatternSubscription): Promise<number> {
    for (;;) {
      try {
        const at = await this.measure();
        interest.liveFrom ??= at;
        return interest.liveFrom;
      } catch (err) {
        if (this.stopped) throw err;
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
        if (interest.liveFrom !== undefined) return interest.liveFrom;
      }
    }
  }

  /** Unsubscribes; the subjects' positions are forgotten (a new subscription measures its live-from again). */
  drop(pattern: string): void {
    const interest = this.interests.get(pattern);
    if (!interest) return;
    if (typeof interest.sub === 'object') interest.sub.unsubscribe();
    else if (interest.sub !== undefined) this.wire?.unsubscribe(interest.sub);
    this.interests.delete(pattern);
    if (!this.wildcards.delete(pattern)) {
      if (!this.wants(pattern)) this.last.delete(pattern);
      return;
    }
    for (const subject of this.last.keys())
      if (subjectMatches(pattern, subject) && !this.wants(subject)) this.last.delete(subject);
  }

  liveFrom(pattern: string): number | undefined {
    return this.interests.get(pattern)?.liveFrom;
  }

  whenLive(pattern: string): Promise<number> {
    const interest = this.interests.get(pattern);
    if (!interest) return Promise.reject(new Error(`the pod is not subscribed to ${pattern}`));
    return interest.liveFrom === undefined ? interest.ready : Promise.resolve(interest.liveFrom);
  }

  /**
   * The stream's last sequence once the server has every subscription made so far: subscriptions made
   * in the same turn share one flush and one look at the stream (a reconnect storm is not one each).
   */
  private measure(): Promise<number> {
    this.measuring ??= (async () => {
      await Promise.resolve(); // the rest of this turn's subscriptions join
      this.measuring = undefined; // later ones wait for a flush after their own SUB
      if (!this.useWire) await this.nc.flush();
      else if (this.wire) await this.wire.flush();
      else throw new Error('the reader connection is being opened again');
      return (await this.stream()).state.last_seq;
    })();
    return this.measuring;
  }

  private holding(): boolean {
    return this.holds > 0 || this.offline;
  }

  private hold(event: Held): void {
    if (this.readAgain) return; // the read in progress reads past these as well
    this.heldBytes += event.data.length;
    if (this.heldBytes > HELD_MAX_BYTES) {
      this.readAgain = true;
      this.held = [];
      this.heldBytes = 0;
      return;
    }
    // The callback's buffer is the connection's: a held event keeps a copy.
    this.held.push({ ...event, data: new Uint8Array(event.data) });
  }

  /** One live event: handed on unless it is a repeat; a gap before it is read from the stream first. */
  private take(subject: string, data: Uint8Array, seq: number, prev: number): void {
    const last = this.last.get(subject);
    if (last !== undefined && seq <= last) {
      // The same event through two subscriptions is `seq === last`; an older one means a new stream.
      if (seq < last) void this.check();
      return;
    }
    const floor = last ?? this.floorOf(subject);
    if (floor !== undefined && prev > floor) {
      this.repair(subject, floor, { subject, data: new Uint8Array(data), seq, prev });
      return;
    }
    this.handOn(subject, data, seq);
  }

  private handOn(subject: string, data: Uint8Array, seq: number): void {
    this.last.set(subject, seq);
    if (seq > this.position) this.position = seq;
    this.events.event(subject, data, seq);
  }

  /** Where a subject without events yet starts: the live-from of the interest it came by (undefined while measured). */
  private floorOf(subject: string): number | undefined {
    let floor = this.interests.get(subject)?.liveFrom;
    for (const pattern of this.wildcards) {
      const liveFrom = this.interests.get(pattern)!.liveFrom;
      if (liveFrom !== undefined && subjectMatches(pattern, subject)) floor = Math.min(floor ?? liveFrom, liveFrom);
    }
    return floor;
  }

  private wants(subject: string): boolean {
    if (this.interests.has(subject)) return true;
    for (const pattern of this.wildcards) if (subjectMatches(pattern, subject)) return true;
    return false;
  }

  /**
   * A gap in one subject's events, shown by the live event `revealing`: what lies before it is read
   * from the stream, then it goes on, then what waited. Only the subject's events the position has
   * passed are late (lost in transit: the sessions past them are told); everything after the
   * position — this subject's and every other's, as when a whole server stalled — is read in stream
   * order, so nobody is past it.
   */
  private repair(subject: string, after: number, revealing: Held): void {
    this.held.unshift(revealing);
    void this.reading(async () => {
      try {
        const position = this.position;
        if (after < position) await this.read(subject, after + 1, position, (seq) => this.events.lost(subject, seq));
        await this.read(STREAM_SUBJECTS, position + 1, revealing.seq - 1);
      } catch (err) {
        this.events.failed(err);
        this.readAgain = true; // all of the interest after the position, once the reads in progress are over
      }
    });
  }

  /** Everything of the interest after the position, from the stream, before the live events go on. */
  private async readMissed(reason: string): Promise<void> {
    this.events.reset(reason);
    await this.reading(async () => {
      for (let failures = 0; ; ) {
        try {
          const info = await this.stream();
          const epoch = epochOf(this.options.stream, info.created);
          if (epoch !== this.epochValue) this.newEpoch(epoch, info);
          const from = this.position;
          this.readAgain = false;
          await this.read(STREAM_SUBJECTS, from + 1, info.state.last_seq);
          this.position = Math.max(this.position, info.state.last_seq);
          // A pattern still being measured: everything of it after `from` has now been read.
          for (const interest of this.interests.values()) interest.liveFrom ??= from;
          if (!this.readAgain) return;
        } catch (err) {
          if (this.stopped || this.offline) return; // the next reconnect reads again
          if (failures++ === 0) this.events.failed(err); // said once; the tries go on until the stream answers
          // A request that timed out has waited already; sent again now, it may find a leader or land elsewhere.
          if (!isTimeout(err)) await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
        }
      }
    }).catch(() => undefined);
  }

  /** The stream was recreated: its sequences start again, and all of it is the interest's to read. */
  private newEpoch(epoch: string, info: StreamInfo): void {
    this.epochValue = epoch;
    this.position = Math.max(0, info.state.first_seq - 1);
    this.seen = info.state.last_seq;
    this.last.clear();
    for (const interest of this.interests.values()) {
      interest.liveFrom = this.position;
      interest.ready = Promise.resolve(this.position);
    }
    this.events.epochChanged(epoch);
  }

  /** Runs a read of the stream with live events held, then lets them through in order. */
  private async reading(work: () => Promise<void>): Promise<void> {
    this.holds++;
    try {
      await work();
    } finally {
      this.holds--;
      this.release();
    }
  }

  private release(): void {
    if (this.holding()) return;
    if (this.readAgain) {
      void this.readMissed('live events were let go while the stream was read');
      return;
    }
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const [i, h] of held.entries()) {
      if (this.holding()) {
        const rest = held.slice(i);
        this.held.push(...rest); // a new gap: the rest waits behind its repair (and the event that showed it)
        for (const r of rest) this.heldBytes += r.data.length;
        return;
      }
      this.take(h.subject, h.data, h.seq, h.prev);
    }
  }

  /**
   * Events of `filter` in [from, to] from the stream, handed on when the interest wants them and they
   * are new; `late` hears of the first such event before it goes on.
   */
  private async read(filter: string, from: number, to: number, late?: (seq: number) => void): Promise<void> {
    if (from > to) return;
    await readHistory(
      this.nc,
      this.options.stream,
      {
        filter,
        fromSeq: from,
        toSeq: to,
        maxEvents: Number.MAX_SAFE_INTEGER,
        signal: new AbortController().signal,
        onEvent: ({ subject, data, seq }) => {
          if (this.stopped || !this.wants(subject)) return;
          const last = this.last.get(subject) ?? this.floorOf(subject) ?? 0;
          if (seq <= last) return;
          late?.(seq);
          late = undefined;
          this.handOn(subject, data, seq);
        },
      },
      `${this.options.description} repair`,
      REQUEST_TIMEOUT_MS,
    );
  }

  private async stream(): Promise<StreamInfo> {
    this.jsm ??= await jetstreamManager(this.nc, { timeout: REQUEST_TIMEOUT_MS });
    const info = await this.jsm.streams.info(this.options.stream);
    if (epochOf(this.options.stream, info.created) === this.epochValue)
      this.seen = Math.max(this.seen, info.state.last_seq);
    return info;
  }

  /** A look at the stream: gone (reported, created again where allowed), or recreated (read from its start). */
  private async check(): Promise<void> {
    if (this.checking || this.stopped || this.offline) return;
    this.checking = true;
    try {
      const info = await this.stream();
      this.restartingSince = undefined;
      if (epochOf(this.options.stream, info.created) !== this.epochValue)
        await this.readMissed('the stream was recreated');
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND) {
        this.restartingSince ??= this.clock();
        this.events.missing();
      }
    } finally {
      this.checking = false;
    }
  }

  private async watchConnection(): Promise<void> {
    this.statuses = this.nc.status();
    for await (const s of this.statuses) {
      if (this.stopped) return;
      // Live events wait from the disconnect on: nats.js subscribes again by itself, and what was
      // published meanwhile is read from the stream before them.
      if (s.type === 'disconnect') this.offline = true;
      if (s.type === 'reconnect') {
        const readingMissed = this.readMissed('reconnected');
        this.offline = false;
        void readingMissed;
      }
    }
  }
}

const isTimeout = (err: unknown): boolean =>
  err instanceof TimeoutError || (err instanceof Error && err.cause instanceof TimeoutError);
