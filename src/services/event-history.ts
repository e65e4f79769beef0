import { eventIdOfPayload, isEventPayload } from '../domain/events.js';
import { eventFrame } from '../domain/frames.js';
import { systemClock, type Clock } from '../domain/clock.js';

/** `frame`: the event's frame, `{"type":"event","seq":…,"payload":…}`, ready to send. */
type Visit = (subject: string, frame: Buffer, seq: number) => void;
/** As Visit; returning false stops the walk after this event. */
type PacedVisit = (subject: string, frame: Buffer, seq: number) => boolean;

/**
 * The same check and frame for one event, when the history does not hold it (a replay read from
 * the stream, an event too large to keep): null when its payload is not a JSON object.
 */
export function frameIfDeliverable(data: Uint8Array, seq: number): Buffer | null {
  return isEventPayload(data) ? eventFrame(data, seq) : null;
}

export interface HistoryLimits {
  /** The most events kept (0: none). */
  maxEvents: number;
  /** The oldest event kept. */
  maxAgeMs: number;
  /** The most payload bytes kept, however large the events: the ring never grows beyond it. */
  maxBytes: number;
}

const UNKNOWN = 0;
/** A JSON object whose `event_id` has not been read yet. */
const DELIVERABLE = 1;
/** A JSON object, its `event_id` in `ids`. */
const IDENTIFIED = 2;
const NOT_AN_OBJECT = 3;

/** The byte ring's first size; it doubles when it is full of events still kept, up to maxBytes. */
const FIRST_RING_BYTES = 256 * 1024;
/** Offsets are 32-bit. */
const MAX_RING_BYTES = 2 ** 31 - 1;

/** A subject's chain: the subject's one string, and the ring index of its newest entry. */
interface Chain {
  readonly subject: string;
  newest: number;
}

/**
 * The pod's recent events, as read from the stream: at most `maxEvents` of them, none older than
 * `maxAgeMs`, and at most `maxBytes` of payloads, whichever bound is reached first (the oldest go
 * first). It answers most resumes without asking NATS (docs/protocol.md, *Resume*), and tells
 * whether an event a Go replica pushes was already delivered from the stream (docs/compat.md).
 *
 * Every pod keeps what it reads, so an event costs little here: its producer's bytes are copied into
 * one byte ring (no object per event for the garbage collector to trace or move; the client
 * library's read buffer must not be pinned), its subject string is the one its subject's chain
 * holds, and the rest are numbers in typed arrays. The ring is the history's memory: it never
 * grows past `maxBytes`, so a burst of large events costs the oldest events, not the pod. An event
 * larger than the whole ring is not kept, and the history starts again after it (what it holds is
 * always every event from its oldest on).
 *
 * Each entry links back to the previous entry of its subject, so that a resume of one session walks
 * its own subjects' events, not the whole stream's. Whether a payload is a JSON object (and its
 * `event_id`) is found out once, the first time live delivery, a replay or a push asks; frames are
 * built for each use and not kept.
 */
export class EventHistory {
  private seqs!: Float64Array;
  private times!: Float64Array;
  /** Ring index of the previous entry of the same subject, -1 when none. */
  private previous!: Int32Array;
  private subjects!: string[];
  /** Where each payload starts in `bytes`. */
  private offsets!: Int32Array;
  private lengths!: Int32Array;
  private state!: Int8Array;
  private ids!: Array<string | undefined>;
  private chains = new Map<string, Chain>();
  private head = 0;
  private count = 0;
  /**
   * The payloads, in the entries' order around the ring: they lie from `used` (the oldest's start)
   * to `free` (past the newest's end), wrapping at most once.
   */
  private bytes!: Buffer;
  private free = 0;
  private used = 0;
  private keptBytes = 0;
  private limits: HistoryLimits;

  constructor(
    limits: HistoryLimits,
    private readonly now: Clock = systemClock,
  ) {
    this.limits = { ...limits, maxBytes: Math.min(limits.maxBytes, MAX_RING_BYTES) };
    this.allocate();
  }

  get size(): number {
    this.expire();
    return this.count;
  }

  /** Payload bytes kept (what `maxBytes` bounds). */
  get payloadBytes(): number {
    return this.keptBytes;
  }

  /** The oldest sequence held, or undefined when empty. */
  get firstSeq(): number | undefined {
    this.expire();
    return this.count === 0 ? undefined : this.seqs[this.head];
  }

  /** Changes the limits (configuration reload); keeps the newest events that fit. */
  resize(limits: HistoryLimits): void {
    const next = { ...limits, maxBytes: Math.min(limits.maxBytes, MAX_RING_BYTES) };
    const reallocate = next.maxEvents !== this.seqs.length || next.maxBytes < this.bytes.length;
    this.limits = next;
    if (!reallocate) return;
    const kept: Array<[number, number, string, Buffer]> = [];
    this.forEachIndex(
      0,
      (i) => void kept.push([this.seqs[i]!, this.times[i]!, this.subjects[i]!, Buffer.from(this.payloadOf(i))]),
    );
    this.allocate();
    if (next.maxEvents === 0) return;
    for (const [seq, time, subject, payload] of kept.slice(-next.maxEvents)) this.keep(seq, subject, payload, time);
  }

  /**
   * Keeps an event; false when it is not kept (resume_max_events 0, or an event larger than
   * resume_max_bytes): then newestFrame and newestEventId are not about it.
   */
  append(seq: number, subject: string, data: Uint8Array): boolean {
    if (this.seqs.length === 0) return false;
    const now = this.now();
    this.expire(now);
    return this.keep(seq, subject, data, now);
  }

  private keep(seq: number, subject: string, data: Uint8Array, time: number): boolean {
    // Kept after a hole, the history would answer a resume across it: it starts again instead.
    if (data.byteLength > this.limits.maxBytes) {
      this.clear();
      return false;
    }
    this.appendAt(seq, subject, data, time);
    return true;
  }

  /**
   * The frame of the event kept last, checked once for live delivery and every later use (replays,
   * pushes); null when its payload is not a JSON object.
   */
  newestFrame(): Buffer | null {
    const i = this.newest();
    return this.deliverable(i) ? this.frameOf(i) : null;
  }

  /** The `event_id` of the event kept last (read from its payload the first time it is asked). */
  newestEventId(): string | undefined {
    const i = this.newest();
    return this.deliverable(i) ? this.idOf(i) : undefined;
  }

  /** Forgets everything (the stream was recreated: its sequences restarted). */
  clear(): void {
    this.allocate();
  }

  /** Visits every deliverable event with a sequence above `afterSeq`, oldest first. */
  forEach(afterSeq: number, visit: Visit): void {
    this.forEachIndex(afterSeq, (i) => this.deliverable(i) && visit(this.subjects[i]!, this.frameOf(i), this.seqs[i]!));
  }

  /** Visits the deliverable events of these subjects above `afterSeq`, in stream order. */
  forEachOf(subjects: readonly string[], afterSeq: number, visit: Visit): void {
    this.visitOf(subjects, afterSeq, Infinity, (s, f, q) => {
      visit(s, f, q);
      return true;
    });
  }

  /**
   * Visits, in stream order, the deliverable events above `afterSeq` and up to `toSeq` — of these
   * subjects, or of every subject `wants` accepts when `subjects` is undefined — until `visit`
   * returns false. Returns the sequence up to which every such event was visited (`toSeq` when
   * the walk was not stopped).
   */
  visitOf(
    subjects: readonly string[] | undefined,
    afterSeq: number,
    toSeq: number,
    visit: PacedVisit,
    wants?: (subject: string) => boolean,
  ): number {
    this.expire();
    const indexes: number[] = [];
    if (subjects) {
      for (const subject of subjects)
        this.walk(subject, (i) => this.seqs[i]! > afterSeq && (this.seqs[i]! > toSeq || indexes.push(i) > 0));
      indexes.sort((x, y) => this.seqs[x]! - this.seqs[y]!);
    } else {
      this.forEachIndex(afterSeq, (i) => this.seqs[i]! <= toSeq && wants!(this.subjects[i]!) && indexes.push(i));
    }
    for (const i of indexes) {
      if (!this.deliverable(i)) continue;
      if (!visit(this.subjects[i]!, this.frameOf(i), this.seqs[i]!)) return this.seqs[i]!;
    }
    return toSeq;
  }

  /** How many events of these subjects lie above `afterSeq` (counted up to `cap`). */
  countOf(
    subjects: readonly string[] | undefined,
    afterSeq: number,
    cap: number,
    wants?: (subject: string) => boolean,
  ): number {
    this.expire();
    let n = 0;
    if (subjects) for (const subject of subjects) this.walk(subject, (i) => this.seqs[i]! > afterSeq && ++n < cap);
    else {
      for (let k = this.firstOffsetAfter(afterSeq); k < this.count && n < cap; k++) {
        if (wants!(this.subjects[(this.head + k) % this.seqs.length]!)) n++;
      }
    }
    return Math.min(n, cap);
  }

  /**
   * Whether an event of `subject` with this `event_id` was read within `windowMs` (newest first,
   * along the subject's own entries; their event ids are parsed once).
   */
  has(subject: string, eventId: string, windowMs: number): boolean {
    this.expire();
    const oldest = this.now() - windowMs;
    let found = false;
    this.walk(subject, (i) => {
      if (this.times[i]! < oldest) return false;
      found = this.deliverable(i) && this.idOf(i) === eventId;
      return !found;
    });
    return found;
  }

  private allocate(): void {
    const maxEvents = this.limits.maxEvents;
    this.seqs = new Float64Array(maxEvents);
    this.times = new Float64Array(maxEvents);
    this.previous = new Int32Array(maxEvents);
    this.subjects = new Array(maxEvents);
    this.offsets = new Int32Array(maxEvents);
    this.lengths = new Int32Array(maxEvents);
    this.state = new Int8Array(maxEvents);
    this.ids = new Array(maxEvents);
    this.chains = new Map();
    this.head = 0;
    this.count = 0;
    this.bytes = Buffer.allocUnsafe(maxEvents === 0 ? 0 : Math.min(FIRST_RING_BYTES, this.limits.maxBytes));
    this.free = this.used = this.keptBytes = 0;
  }

  private appendAt(seq: number, subject: string, data: Uint8Array, time: number): void {
    const cap = this.seqs.length;
    if (this.count === cap) this.dropOldest();
    const offset = this.reserve(data.byteLength);
    const i = (this.head + this.count) % cap;
    this.count++;
    const chain = this.chains.get(subject);
    this.seqs[i] = seq;
    this.times[i] = time;
    this.subjects[i] = chain?.subject ?? subject;
    this.offsets[i] = offset;
    this.lengths[i] = data.byteLength;
    this.bytes.set(data, offset);
    this.keptBytes += data.byteLength;
    this.state[i] = UNKNOWN;
    this.ids[i] = undefined;
    this.previous[i] = chain?.newest ?? -1;
    if (chain) chain.newest = i;
    else this.chains.set(subject, { subject, newest: i });
  }

  /**
   * Where `length` more bytes go: after the newest entry's, or at the start of the ring when they
   * do not fit before its end. A full ring grows (up to maxBytes), else its oldest entries go.
   */
  private reserve(length: number): number {
    for (;;) {
      if (this.count === 0) this.free = this.used = 0;
      const wrapped = this.count > 0 && this.free <= this.used;
      if (!wrapped) {
        if (this.free + length <= this.bytes.length) break;
        if (length <= this.used) {
          this.free = 0;
          break;
        }
      } else if (this.free + length <= this.used) break;
      if (this.bytes.length < this.limits.maxBytes) this.grow(length);
      else this.dropOldest();
    }
    const at = this.free;
    this.free += length;
    return at;
  }

  /**
   * A ring twice the size (at least the room asked for, at most maxBytes), the payloads copied in
   * order: a run of payloads that lie end to end is one copy (the ring holds one or two such runs),
   * not a view and a copy per event.
   */
  private grow(room: number): void {
    const size = Math.min(this.limits.maxBytes, Math.max(this.bytes.length * 2, this.keptBytes + room));
    const bytes = Buffer.allocUnsafe(size);
    let at = 0;
    let runFrom = 0;
    let runTo = -1;
    let runAt = 0;
    const cap = this.seqs.length;
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) % cap;
      const offset = this.offsets[i]!;
      if (offset !== runTo) {
        if (runTo >= 0) this.bytes.copy(bytes, runAt, runFrom, runTo);
        runFrom = offset;
        runAt = at;
      }
      runTo = offset + this.lengths[i]!;
      this.offsets[i] = at;
      at += this.lengths[i]!;
    }
    if (runTo >= 0) this.bytes.copy(bytes, runAt, runFrom, runTo);
    this.bytes = bytes;
    this.used = 0;
    this.free = at;
  }

  /** The entry's payload: a view into the ring, valid until the next append. */
  private payloadOf(i: number): Buffer {
    const offset = this.offsets[i]!;
    return this.bytes.subarray(offset, offset + this.lengths[i]!);
  }

  private frameOf(i: number): Buffer {
    return eventFrame(this.payloadOf(i), this.seqs[i]);
  }

  private newest(): number {
    return (this.head + this.count - 1) % this.seqs.length;
  }

  /** Whether the entry's payload is a JSON object (checked once). */
  private deliverable(i: number): boolean {
    if (this.state[i] === UNKNOWN) this.state[i] = isEventPayload(this.payloadOf(i)) ? DELIVERABLE : NOT_AN_OBJECT;
    return this.state[i] !== NOT_AN_OBJECT;
  }

  /**
   * A deliverable entry's `event_id`, parsed out of its payload once and only when asked: only
   * a push from a Go replica needs it, so an event no push matches is never parsed.
   */
  private idOf(i: number): string | undefined {
    if (this.state[i] === DELIVERABLE) {
      this.ids[i] = eventIdOfPayload(this.payloadOf(i));
      this.state[i] = IDENTIFIED;
    }
    return this.ids[i];
  }

  private expire(now = this.now()): void {
    const oldest = now - this.limits.maxAgeMs;
    while (this.count > 0 && this.times[this.head]! < oldest) this.dropOldest();
  }

  /** Drops the oldest entry (a link to it now ends its subject's chain, see walk). */
  private dropOldest(): void {
    const i = this.head;
    const subject = this.subjects[i]!;
    const chain = this.chains.get(subject);
    if (chain?.newest === i) this.chains.delete(subject);
    this.used = this.offsets[i]! + this.lengths[i]!;
    this.keptBytes -= this.lengths[i]!;
    this.subjects[i] = undefined as unknown as string;
    this.ids[i] = undefined;
    this.head = (this.head + 1) % this.seqs.length;
    this.count--;
  }

  /**
   * Walks a subject's entries from the newest back while `visit` says so. A link is followed only
   * to a slot still held, of the same subject and older: a slot dropped or reused since the link
   * was made ends the chain (so dropping an entry never has to find who points at it).
   */
  private walk(subject: string, visit: (index: number) => boolean): void {
    const cap = this.seqs.length;
    let i = this.chains.get(subject)?.newest ?? -1;
    while (i >= 0 && visit(i)) {
      const p = this.previous[i]!;
      if (
        p < 0 ||
        (p - this.head + cap) % cap >= this.count ||
        this.subjects[p] !== subject ||
        this.seqs[p]! >= this.seqs[i]!
      )
        return;
      i = p;
    }
  }

  private forEachIndex(afterSeq: number, visit: (index: number) => void): void {
    this.expire();
    const cap = this.seqs.length;
    for (let k = this.firstOffsetAfter(afterSeq); k < this.count; k++) visit((this.head + k) % cap);
  }

  /** Offset (from the oldest) of the first event above `afterSeq`: a binary search. */
  private firstOffsetAfter(afterSeq: number): number {
    const cap = this.seqs.length;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[(this.head + mid) % cap]! <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
