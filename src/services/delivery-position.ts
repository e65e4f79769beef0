/**
 * Where one session is in the stream, and the one place that decides whether an event goes to it:
 * the live path (the dispatcher) and replays (the resume service) both ask here, so that no event
 * reaches a session twice or is skipped at the seam between a replay and live delivery.
 *
 * - `lastSeq`: the highest sequence handed to the session; a live event at or below it is not
 *   sent again (a redelivery, or one a replay already sent).
 * - While a replay runs, live events are left to it: the replay reads up to the pod's reading
 *   position, again and again, until nothing is left, and then hands the session back to the live
 *   path in the same synchronous step (`finishReplay`). So no frame is held back anywhere: what a
 *   replay has not sent yet is in the pod's history or in the stream.
 */
export class DeliveryPosition {
  private sent = 0;
  private running: ReplayState | undefined;

  /** The highest sequence handed to the session (written only here). */
  get lastSeq(): number {
    return this.sent;
  }

  /** A new session that does not resume: nothing up to `seq` is its. */
  startAt(seq: number): void {
    this.sent = seq;
  }

  /** A live event: true when the session takes it now (it is then the newest it has). */
  takes(seq: number): boolean {
    if (this.running !== undefined || seq <= this.sent) return false;
    this.sent = seq;
    return true;
  }

  get replay(): ReplayState | undefined {
    return this.running;
  }

  /**
   * Starts a replay: live events wait for it from now on. A replay still running is stopped
   * first and returned, so that the new one can carry on from where it got to.
   */
  beginReplay(state: ReplayState): ReplayState | undefined {
    const previous = this.running;
    previous?.abort();
    this.running = state;
    return previous;
  }

  /** The replay sent everything up to `upTo`: the session is live again after that. */
  finishReplay(state: ReplayState, upTo: number): void {
    if (this.running !== state) return;
    this.running = undefined;
    this.sent = Math.max(this.sent, upTo);
  }

  /** Stops any replay (the session closed); nothing more goes to the session from it. */
  stopReplay(): void {
    this.running?.abort();
    this.running = undefined;
  }

  /** The stream was recreated: sequences restart, and a running replay is of the old stream. */
  reset(): void {
    this.stopReplay();
    this.sent = 0;
  }
}

/**
 * A running replay: per subject, the sequence after which it replays that subject, and `cursor`,
 * up to which everything the replay covers has been sent.
 */
export class ReplayState {
  cursor: number;
  private readonly controller = new AbortController();

  constructor(
    /** Users: subject → replay after this sequence. Admins: one sequence for all their subjects. */
    readonly after: ReadonlyMap<string, number> | number,
    /** Live events up to this are not sent again when the replay ends (the client had them). */
    readonly clientSince = 0,
    /**
     * A replay the client did not ask for — a catch-up (its queue was full under `block`), or the start
     * of a live `select_chat` — so no `resumed` frame.
     */
    readonly silent = false,
  ) {
    this.cursor = typeof after === 'number' ? after : Math.min(...after.values());
  }

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  /** Aborted once the replay is stopped: a stream read in progress ends with it. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  abort(): void {
    this.controller.abort();
  }

  /** Whether an event of `subject` at `seq` is one this replay sends. */
  covers(subject: string, seq: number): boolean {
    if (typeof this.after === 'number') return seq > this.after;
    const after = this.after.get(subject);
    return after !== undefined && seq > after;
  }

  /** Where a subject stands in this replay: everything of it up to this was sent (or was not wanted). */
  sentUpTo(subject: string): number | undefined {
    if (typeof this.after === 'number') return Math.max(this.after, this.cursor);
    const after = this.after.get(subject);
    return after === undefined ? undefined : Math.max(after, this.cursor);
  }
}
