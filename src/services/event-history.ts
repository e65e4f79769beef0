import { eventIdOf } from '../domain/events.js';

/**
 * The pod's recent events, as read from the stream: a ring of at most `maxEvents`, none older
 * than `maxAgeMs`. It answers most resumes without asking NATS (SPEC §11), and tells whether an
 * event a Go replica pushes was already delivered from the stream (SPEC §10).
 *
 * Each entry keeps its own copy of the producer's bytes: the client library hands out views
 * into its read buffer, which must not be pinned.
 */
export class EventHistory {
  private seqs!: Float64Array;
  private times!: Float64Array;
  private subjects!: string[];
  private data!: Buffer[];
  private ids!: Array<string | null | undefined>;
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
    this.forEach(0, (subject, data, seq, i) => void kept.push([seq, this.times[i]!, subject, data]));
    this.allocate(maxEvents);
    if (maxEvents === 0) return;
    for (const [seq, time, subject, data] of kept.slice(-maxEvents)) this.appendAt(seq, subject, data, time);
  }

  append(seq: number, subject: string, data: Uint8Array): void {
    if (this.seqs.length === 0) return;
    const now = this.now();
    this.appendAt(seq, subject, Buffer.from(data), now);
    this.expire(now);
  }

  /** Forgets everything (the stream was recreated: its sequences restarted). */
  clear(): void {
    this.subjects.fill(undefined as unknown as string);
    this.data.fill(undefined as unknown as Buffer);
    this.ids.fill(undefined);
    this.head = 0;
    this.count = 0;
  }

  /** Visits the events with a sequence above `afterSeq`, oldest first. */
  forEach(afterSeq: number, visit: (subject: string, data: Buffer, seq: number, index: number) => void): void {
    this.expire();
    const cap = this.seqs.length;
    for (let k = this.firstIndexAfter(afterSeq); k < this.count; k++) {
      const i = (this.head + k) % cap;
      visit(this.subjects[i]!, this.data[i]!, this.seqs[i]!, i);
    }
  }

  /**
   * Whether an event of `subject` with this `event_id` was read within `windowMs` (newest first,
   * the event ids are parsed only for entries of the same subject, once).
   */
  has(subject: string, eventId: string, windowMs: number): boolean {
    const cap = this.seqs.length;
    const oldest = this.now() - windowMs;
    for (let k = this.count - 1; k >= 0; k--) {
      const i = (this.head + k) % cap;
      if (this.times[i]! < oldest) return false;
      if (this.subjects[i] !== subject) continue;
      let id = this.ids[i];
      if (id === undefined) id = this.ids[i] = eventIdOf(this.data[i]!) ?? null;
      if (id === eventId) return true;
    }
    return false;
  }

  private allocate(maxEvents: number): void {
    this.seqs = new Float64Array(maxEvents);
    this.times = new Float64Array(maxEvents);
    this.subjects = new Array(maxEvents);
    this.data = new Array(maxEvents);
    this.ids = new Array(maxEvents);
    this.head = 0;
    this.count = 0;
  }

  private appendAt(seq: number, subject: string, data: Buffer, time: number): void {
    const cap = this.seqs.length;
    const i = (this.head + this.count) % cap;
    if (this.count === cap) this.head = (this.head + 1) % cap;
    else this.count++;
    this.seqs[i] = seq;
    this.times[i] = time;
    this.subjects[i] = subject;
    this.data[i] = data;
    this.ids[i] = undefined;
  }

  private expire(now = this.now()): void {
    const oldest = now - this.maxAgeMs;
    const cap = this.seqs.length;
    while (this.count > 0 && this.times[this.head]! < oldest) {
      this.subjects[this.head] = undefined as unknown as string;
      this.data[this.head] = undefined as unknown as Buffer;
      this.head = (this.head + 1) % cap;
      this.count--;
    }
  }

  /** Offset (from the oldest) of the first event above `afterSeq`: a binary search. */
  private firstIndexAfter(afterSeq: number): number {
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
