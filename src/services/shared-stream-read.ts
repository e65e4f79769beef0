import type { EventStream, StreamEvent } from '../domain/ports.js';

/** How a replay's part in a shared read ended. */
export type ReadOutcome =
  | { kind: 'read'; reached: number }
  | { kind: 'too_long' }
  /** Nothing was read for it (its read never started, or a refusal that was not its own): ask again. */
  | { kind: 'again' }
  | { kind: 'failed'; error: unknown };

/** One replay's part: its events are handed to `onEvent`, up to `upTo`. */
export class ReadMember {
  /** Every event of the filter up to here has been handed on (or was before `fromSeq`). */
  reached: number;
  /** Settled by the first end(): later ones change nothing. */
  private settle!: (outcome: ReadOutcome) => void;
  readonly outcome = new Promise<ReadOutcome>((resolve) => (this.settle = resolve));

  constructor(
    readonly fromSeq: number,
    readonly upTo: number,
    /** The replay's own handling of an event; a promise: its socket is full, it goes on alone once drained. */
    readonly onEvent: (event: StreamEvent) => void | Promise<void>,
  ) {
    this.reached = fromSeq - 1;
  }

  end(outcome: ReadOutcome): void {
    this.settle(outcome);
  }
}

/**
 * One stream read that the replays of a reconnect storm share: sessions of the same agent that land
 * on a pod which did not hold it all need the same events from the stream, from about the same
 * sequence. Each joins the read of its filter that has not handed on an event yet, instead of
 * queueing for a read of its own (a few at a time per pod, each a consumer on the server): 500
 * sessions of three agents become a handful of reads.
 *
 * The read never waits for a member: one whose socket is full leaves it where it stands and reads
 * on alone once the socket drains, so a slow client cannot hold the others.
 */
export class SharedStreamRead {
  private readonly members = new Set<ReadMember>();
  /** An event has been handed on (a replay that needs an earlier one can no longer join), or the read is over. */
  private closed = false;
  private readonly stop = new AbortController();

  constructor(
    readonly filter: string,
    readonly fromSeq: number,
    readonly toSeq: number,
    readonly maxEvents: number,
  ) {}

  /** Whether a replay of this filter reading from `fromSeq` with this bound can take its events from here. */
  joinable(fromSeq: number, maxEvents: number): boolean {
    return !this.closed && fromSeq >= this.fromSeq && maxEvents === this.maxEvents;
  }

  join(member: ReadMember): void {
    this.members.add(member);
  }

  /** A member stopped (its session closed, or it selected another chat). */
  leave(member: ReadMember, outcome: ReadOutcome): void {
    if (!this.members.delete(member)) return;
    member.end(outcome);
    if (this.members.size === 0) this.stop.abort();
  }

  /** The read could not start: every member asks again. */
  abandon(): void {
    this.closed = true;
    for (const m of this.members) m.end({ kind: 'again' });
    this.members.clear();
  }

  async run(stream: Pick<EventStream, 'readHistory'>): Promise<void> {
    let result: 'done' | 'too_long';
    try {
      result = await stream.readHistory({
        filter: this.filter,
        fromSeq: this.fromSeq,
        toSeq: this.toSeq,
        maxEvents: this.maxEvents,
        signal: this.stop.signal,
        onEvent: (event) => this.handOn(event),
      });
    } catch (error) {
      this.closed = true;
      for (const m of this.members) m.end({ kind: 'failed', error });
      this.members.clear();
      return;
    }
    this.closed = true;
    for (const m of this.members) {
      if (result === 'done') m.end({ kind: 'read', reached: Math.max(m.reached, Math.min(m.upTo, this.toSeq)) });
      // Counted from this read's start: a member that starts later may have fewer behind it.
      else m.end(m.fromSeq === this.fromSeq ? { kind: 'too_long' } : { kind: 'again' });
    }
    this.members.clear();
  }

  private handOn(event: StreamEvent): undefined {
    this.closed = true;
    for (const m of this.members) {
      if (event.seq > m.upTo) {
        this.leave(m, { kind: 'read', reached: m.upTo });
        continue;
      }
      let wait: void | Promise<void>;
      try {
        wait = m.onEvent(event);
      } catch (error) {
        this.leave(m, { kind: 'failed', error }); // its own failure, not the others'
        continue;
      }
      m.reached = Math.max(m.reached, event.seq);
      if (wait) this.leave(m, { kind: 'read', reached: m.reached });
    }
    return undefined;
  }
}
