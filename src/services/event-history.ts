import { eventFrame, parseEventPayload } from '../domain/events.js';

/** `frame`: the event's frame, `{"type":"event","seq":…,"payload":…}`, ready to send. */
type Visit = (subject: string, frame: Buffer, seq: number) => void;

/** An event whose payload is a JSON object: its frame, and its `event_id` when it has one. */
export interface CheckedEvent {
  frame: Buffer;
  eventId: string | undefined;
}

const UNKNOWN = 0;
const DELIVERABLE = 1;
const NOT_AN_OBJECT = 2;

/**
 * The pod's recent events, as read from the stream: a ring of at most `maxEvents`, none older
 * than `maxAgeMs`. It answers most resumes without asking NATS (SPEC §11), and tells whether an
 * event a Go replica pushes was already delivered from the stream (SPEC §10).
 *
 * Each entry links back to the previous entry of its subject, so that a resume of one session
 * walks its own subjects' events, not the whole fleet's (a reconnect storm replays a thousand
 * sessions at once). Each entry keeps a copy of the producer's bytes (the client library hands
 * out views into its read buffer, which must not be pinned); its frame is built the first time
 * someone sends it — live delivery or a replay — and every later send reuses it. Whether its
 * payload is a JSON object (and its `event_id`) is found out once, the first time live delivery,
 * a replay or a push asks. An event nobody on the pod wants costs the copy and two array writes.
 */
export class EventHistory {
  private seqs!: Float64Array;
  private times!: Float64Array;
  /** Ring index of the previous entry of the same subject, -1 when none. */
  private previous!: Int32Array;
  private subjects!: string[];
  private payloads!: Buffer[];
  private frames!: Array<Buffer | undefined>;
  private state!: Int8Array;
  private ids!: Array<string | undefined>;
  /** Ring index of the newest entry of each subject held. */
  private newest = new Map<string, number>();
  private head = 0;
  private count = 0;

  constructor(maxEvents: number, private maxAgeMs: number, private readonly now: () => number = Date.now) {
    this.allocate(maxEvents);
  }

  get size(): number {
    this.expire();
    return this.count;
  }

  /** The oldest sequence held, or undefined when empty. */
  get firstSeq(): number | undefined {
    this.expire();
    return this.count === 0 ? undefined : this.seqs[this.head];
  }

  /** Changes the limits (configuration reload); keeps the newest events that fit. */
  resize(maxEvents: number, maxAgeMs: number): void {
    this.maxAgeMs = maxAgeMs;
    if (maxEvents === this.seqs.length) return;
    const kept: Array<[number, number, string, Buffer]> = [];
    this.forEachIndex(0, (i) => void kept.push([this.seqs[i]!, this.times[i]!, this.subjects[i]!, this.payloads[i]!]));
    this.allocate(maxEvents);
    if (maxEvents === 0) return;
    for (const [seq, time, subject, payload] of kept.slice(-maxEvents)) this.appendAt(seq, subject, payload, time);
  }

  append(seq: number, subject: string, data: Uint8Array): void {
    if (this.seqs.length === 0) return;
    const now = this.now();
    this.appendAt(seq, subject, Buffer.from(data), now);
    this.expire(now);
  }

  /**
   * The event appended last, checked once for live delivery and every later use (replays, pushes):
   * its frame and event_id; null when its payload is not a JSON object; undefined when the history
   * keeps nothing (resume_max_events 0).
   */
  latest(): CheckedEvent | null | undefined {
    if (this.count === 0) return undefined;
    const i = (this.head + this.count - 1) % this.seqs.length;
    return this.deliverable(i) ? { frame: this.frameOf(i), eventId: this.ids[i] } : null;
  }

  /** Forgets everything (the stream was recreated: its sequences restarted). */
  clear(): void {
    this.allocate(this.seqs.length);
  }

  /** Visits every deliverable event with a sequence above `afterSeq`, oldest first. */
  forEach(afterSeq: number, visit: Visit): void {
    this.forEachIndex(afterSeq, (i) => this.deliverable(i) && visit(this.subjects[i]!, this.frameOf(i), this.seqs[i]!));
  }

  /** Visits the deliverable events of these subjects above `afterSeq`, in stream order. */
  forEachOf(subjects: string[], afterSeq: number, visit: Visit): void {
    this.expire();
    const indexes: number[] = [];
    for (const subject of subjects) this.walk(subject, (i) => this.seqs[i]! > afterSeq && indexes.push(i) > 0);
    indexes.sort((x, y) => this.seqs[x]! - this.seqs[y]!);
    for (const i of indexes) if (this.deliverable(i)) visit(this.subjects[i]!, this.frameOf(i), this.seqs[i]!);
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
      found = this.deliverable(i) && this.ids[i] === eventId;
      return !found;
    });
    return found;
  }

  private allocate(maxEvents: number): void {
    this.seqs = new Float64Array(maxEvents);
    this.times = new Float64Array(maxEvents);
    this.previous = new Int32Array(maxEvents);
    this.subjects = new Array(maxEvents);
    this.payloads = new Array(maxEvents);
    this.frames = new Array(maxEvents);
    this.state = new Int8Array(maxEvents);
    this.ids = new Array(maxEvents);
    this.newest = new Map();
    this.head = 0;
    this.count = 0;
  }

  private appendAt(seq: number, subject: string, payload: Buffer, time: number): void {
    const cap = this.seqs.length;
    if (this.count === cap) this.dropOldest();
    const i = (this.head + this.count) % cap;
    this.count++;
    this.seqs[i] = seq;
    this.times[i] = time;
    this.subjects[i] = subject;
    this.payloads[i] = payload;
    this.frames[i] = undefined;
    this.state[i] = UNKNOWN;
    this.ids[i] = undefined;
    this.previous[i] = this.newest.get(subject) ?? -1;
    this.newest.set(subject, i);
  }

  private frameOf(i: number): Buffer {
    return (this.frames[i] ??= eventFrame(this.payloads[i]!, this.seqs[i]));
  }

  /** Whether the entry's payload is a JSON object (parsed once, with its event_id kept). */
  private deliverable(i: number): boolean {
    if (this.state[i] === UNKNOWN) {
      const payload = parseEventPayload(this.payloads[i]!);
      this.state[i] = payload ? DELIVERABLE : NOT_AN_OBJECT;
      this.ids[i] = typeof payload?.event_id === 'string' ? payload.event_id : undefined;
    }
    return this.state[i] === DELIVERABLE;
  }

  private expire(now = this.now()): void {
    const oldest = now - this.maxAgeMs;
    while (this.count > 0 && this.times[this.head]! < oldest) this.dropOldest();
  }

  /** Drops the oldest entry (a link to it now ends its subject's chain, see walk). */
  private dropOldest(): void {
    const i = this.head;
    const subject = this.subjects[i]!;
    if (this.newest.get(subject) === i) this.newest.delete(subject);
    this.subjects[i] = undefined as unknown as string;
    this.payloads[i] = undefined as unknown as Buffer;
    this.frames[i] = undefined;
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
    let i = this.newest.get(subject) ?? -1;
    while (i >= 0 && visit(i)) {
      const p = this.previous[i]!;
      if (p < 0 || (p - this.head + cap) % cap >= this.count || this.subjects[p] !== subject || this.seqs[p]! >= this.seqs[i]!) return;
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
