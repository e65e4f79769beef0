import type { Config } from '../platform/config/schema.js';
import type { ResumeHooks } from '../domain/metric-hooks.js';
import { BoundedMap } from '../domain/bounded-map.js';
import { ErrorCodes, GatewayError } from '../domain/errors.js';
import { subjects } from '../domain/events.js';
import { errorFrame, resumedFrame } from '../domain/frames.js';
import type { EventStream, Logger } from '../domain/ports.js';
import { interestOf, streamFilterOf, subjectFilterOf } from '../domain/session.js';
import { ReplayState } from './delivery-position.js';
import { frameIfDeliverable, type EventHistory } from './event-history.js';
import type { Session } from './session.js';
import { systemClock, type Clock } from '../domain/clock.js';

export interface ResumeDeps {
  stream: EventStream;
  metrics: ResumeHooks;
  history: EventHistory;
  /** The last sequence this pod's reading handed to its sessions. */
  position(): number;
  /** The slice it reads, live. */
  config: () => Pick<Config, 'app'>;
  log: Logger;
  now?: Clock;
}

/** Stream reads for replays at once on one pod: a reconnect storm does not become one consumer per session. */
const STREAM_READS_AT_ONCE = 4;
/** A replay writes at most this much in one turn of the event loop, then lets live events through. */
const SLICE_BYTES = 256 * 1024;
const SLICE_EVENTS = 200;

interface ReplayStats {
  from: number;
  to: number;
  count: number;
  source: 'memory' | 'stream';
  /** Whether the replay holds one of the STREAM_READS_AT_ONCE. */
  reading: boolean;
}

/**
 * Resume after a reconnect, and `select_chat` with `since` (docs/protocol.md, *Resume*): replays a
 * session's subjects above a sequence, in stream order, and hands the session to the live path
 * with no gap and no duplicate at the seam.
 *
 * A replay is a catch-up: it reads up to the pod's reading position — from the pod's history when
 * that reaches back far enough, else from the stream through a short-lived consumer (a few at a
 * time per pod) — and again up to the new position, until nothing is left; then the session is
 * live in the same synchronous step (DeliveryPosition). It writes only while the client's socket
 * takes frames, a slice per turn of the event loop, so a replay costs the pod neither memory nor
 * the live events' turn; it stops when its session closes or selects another chat.
 *
 * Bounds (docs/protocol.md, *Limits*): a replay of more than app.resume_max_replay_events events
 * is refused at once (ResumeUnavailable: the client reloads its state); a session replays one thing
 * at a time, and `select_chat` with `since` at most app.resume_max_replays_per_minute times a minute
 * (RateLimitExceeded: the chat is selected live).
 */
export class ResumeService {
  private running = 0;
  private readonly waiting: Array<{ replay: ReplayState; start: () => void }> = [];
  /** Per session key: when its recent select_chat replays started. */
  private readonly recent = new BoundedMap<number[]>();
  private readonly now: Clock;

  constructor(private readonly deps: ResumeDeps) {
    this.now = deps.now ?? systemClock;
  }

  /** The stream's current epoch (the `ready` frame carries it). */
  epoch(): string {
    return this.deps.stream.epoch();
  }

  /** A new session that does not resume: live from the pod's reading position (nothing before it is its). */
  startLive(session: Session): void {
    session.position.startAt(this.deps.position());
  }

  /**
   * A resume at connect: from now on live events wait for the replay. Call before the session is
   * registered, then `run` it once `ready` is out.
   */
  beginResume(session: Session, since: number): ReplayState {
    const replay = new ReplayState(everySubjectAfter(session, since), since);
    session.position.beginReplay(replay);
    return replay;
  }

  /**
   * Under the `block` policy, a session whose send queue is full takes no more live frames: it
   * catches up from the history (else the stream) at the pace its socket takes them, then is live
   * again. Nothing is dropped and nothing waits in memory that the history does not hold already.
   */
  catchUp(session: Session): void {
    if (session.position.replay || !session.isOpen) return;
    const replay = new ReplayState(everySubjectAfter(session, session.position.lastSeq), 0, true);
    session.position.beginReplay(replay);
    void this.run(session, replay, this.epoch());
  }

  /**
   * `select_chat` of a user session (call before the chat is set): the replay to run for it, if any —
   * the chat's messages after `since`, and what a replay still running had left to do (it is stopped
   * here). `refused`: over the per-minute bound; the chat is then selected live.
   *
   * A live select (no `since`, or refused) starts at the stream's head as the pod knows it now
   * (`start`): every event of the chat stored after the pod took the frame comes after it. With
   * interest reading the pod's subscription to the chat is in place only a round trip to NATS later,
   * so what was stored in between is read from the stream by a replay that sends no `resumed`.
   */
  beginSelect(
    session: Session,
    chatId: string,
    since: number | undefined,
  ): { replay?: ReplayState; refused?: GatewayError; start?: number } {
    const id = session.identity;
    if (id.kind !== 'user') return {};
    let refused: GatewayError | undefined;
    if (since !== undefined && !this.takeReplay(session.key)) {
      const limit = this.deps.config().app.resume_max_replays_per_minute;
      refused = new GatewayError(
        ErrorCodes.RateLimitExceeded,
        'Too many replays',
        `At most ${limit} select_chat with since a minute; the chat is selected without a replay.`,
      );
      since = undefined;
    }
    const old = session.position.replay;
    const live = since === undefined;
    const start = since ?? Math.max(this.deps.position(), this.deps.stream.head());
    if (live && !old && session.chatId === chatId) return { refused, start: session.position.lastSeq };
    const chats = subjects.chats(id.companyId, id.agentId);
    // A live session has every chat-list event the pod has handed on: the chat list is replayed only
    // from there (from its last event, it would read the agent's whole stream since then).
    const after = new Map([
      [chats, old?.sentUpTo(chats) ?? Math.max(session.position.lastSeq, this.deps.position())],
      [subjects.messages(id.companyId, id.agentId, chatId), start],
    ]);
    const replay = new ReplayState(after, old?.clientSince ?? 0, live && (!old || old.silent));
    session.position.beginReplay(replay);
    return { replay, refused, start };
  }

  /**
   * Runs a replay begun above to its end. Never throws: a replay that cannot be served tells the
   * client ResumeUnavailable and the session goes on live; one that was stopped just ends.
   */
  async run(session: Session, replay: ReplayState, epoch: string): Promise<void> {
    const stats: ReplayStats = { from: 0, to: 0, count: 0, source: 'memory', reading: false };
    try {
      if (epoch !== this.epoch())
        throw unavailable('The stream was recreated since then (epoch differs); reload your state.');
      // What the pod's reading brings of the session's subjects starts after `liveFrom`: before it, the stream.
      const liveFrom = await this.liveFromOf(session);
      await this.checkReach(replay);
      this.checkMemoryBudget(session, replay, liveFrom);
      for (;;) {
        if (replay.aborted) return;
        const end = Math.max(this.deps.position(), liveFrom);
        if (replay.cursor >= end) break;
        if (this.inMemory(replay, liveFrom)) {
          this.releaseStream(stats);
          this.fromMemory(session, replay, end, stats);
        } else await this.fromStream(session, replay, end, stats);
        if (stats.count > this.maxEvents()) throw tooFarBehind(this.maxEvents());
        await (writable(session, replay) ?? nextTurn());
        if (epoch !== this.epoch()) throw unavailable('The stream was recreated during the replay; reload your state.');
      }
      // Synchronous from the check above: nothing can come between the last replayed event and live delivery.
      session.position.finishReplay(replay, Math.max(replay.cursor, replay.clientSince));
      if (replay.silent) return;
      this.deps.metrics.resumed(stats.source);
      const { from, to, count } = stats;
      session.sendUnbounded(resumedFrame(from, to, count), 'resumed');
    } catch (err) {
      if (replay.aborted) return; // the session closed, or a newer replay carries on from here
      // The client acts on ResumeUnavailable (it reloads its state); a stream that failed under the replay is that too.
      const given = err instanceof GatewayError && err.code === ErrorCodes.ResumeUnavailable;
      const error = given ? err : unavailable('The history could not be read; reload your state.');
      if (!given) this.deps.log.warn({ err, session_key: session.key }, 'replay failed');
      this.deps.metrics.resumed('unavailable');
      session.position.finishReplay(replay, this.deps.position());
      session.sendUnbounded(errorFrame(error.toBody()), 'error');
    } finally {
      this.releaseStream(stats);
    }
  }

  /** Gives back the replay's stream read, if it holds one. */
  private releaseStream(stats: ReplayStats): void {
    if (!stats.reading) return;
    stats.reading = false;
    this.running--;
    this.waiting.shift()?.start();
  }

  /** A `since` beyond the stream's last event would wait for sequences that never come. */
  private async checkReach(replay: ReplayState): Promise<void> {
    const furthest = typeof replay.after === 'number' ? replay.after : Math.max(...replay.after.values());
    if (furthest <= this.deps.position()) return;
    const { last } = await this.deps.stream.bounds();
    if (furthest > last)
      throw unavailable(`since ${furthest} is beyond the stream's last event (${last}); reload your state.`);
  }

  /**
   * A replay the history can answer whole is counted there first: too long, and it is refused before anything is sent.
   */
  private checkMemoryBudget(session: Session, replay: ReplayState, liveFrom: number): void {
    if (!this.inMemory(replay, liveFrom)) return; // counted by the stream read
    const max = this.maxEvents();
    const { exact, wants } = this.subjectsOf(session, replay);
    const count = this.deps.history.countOf(exact, replay.cursor, max + 1, wants);
    if (count > max) throw tooFarBehind(max);
  }

  /** Whether the pod's history holds everything of the replay after its cursor. */
  private inMemory(replay: ReplayState, liveFrom: number): boolean {
    const first = this.deps.history.firstSeq;
    return first !== undefined && first <= replay.cursor + 1 && replay.cursor >= liveFrom;
  }

  /**
   * The sequence after which the pod's reading brings every event of the session's subjects (0 when it
   * reads the whole stream from before the session came; with interest reading, where its subscriptions
   * started).
   */
  private async liveFromOf(session: Session): Promise<number> {
    const patterns = interestOf(session.identity, session.chatId);
    const liveFrom = await Promise.all(patterns.map((p) => this.deps.stream.whenLive(p)));
    return Math.max(0, ...liveFrom);
  }

  /** Everything of the replay in the history up to `end`, a slice at a time: the cursor moves as it goes. */
  private fromMemory(session: Session, replay: ReplayState, end: number, stats: ReplayStats): void {
    const { exact, wants } = this.subjectsOf(session, replay);
    let bytes = 0;
    let events = 0;
    replay.cursor = this.deps.history.visitOf(
      exact,
      replay.cursor,
      end,
      (subject, frame, seq) => {
        if (!replay.covers(subject, seq)) return true;
        send(session, frame, seq, stats);
        bytes += frame.length;
        events++;
        return bytes < SLICE_BYTES && events < SLICE_EVENTS && session.whenWritable() === undefined;
      },
      wants,
    );
  }

  /**
   * The replay up to `upTo` from the stream, at the pace the client reads: what the history no
   * longer holds, and what came meanwhile (the history moves on while the stream is read: stopping
   * where it began would leave a new gap behind every read). The replay keeps its stream read until
   * the history reaches back to it again, so that the rest — a few events each time — never queues
   * behind other replays while the history moves on.
   */
  private async fromStream(session: Session, replay: ReplayState, upTo: number, stats: ReplayStats): Promise<void> {
    if (!stats.reading) {
      await this.turn(replay);
      stats.reading = true;
    }
    stats.source = 'stream';
    const { first } = await this.deps.stream.bounds();
    if (first > replay.cursor + 1)
      throw unavailable(
        `The stream no longer holds events after ${replay.cursor} (it starts at ${first}); reload your state.`,
      );
    const { wants } = this.subjectsOf(session, replay);
    const result = await this.deps.stream.readHistory({
      filter: this.streamFilter(session, replay, upTo),
      fromSeq: replay.cursor + 1,
      toSeq: upTo,
      maxEvents: this.maxEvents() - stats.count,
      signal: replay.signal,
      onEvent: (e) => {
        if (replay.aborted || e.seq <= replay.cursor || e.seq > upTo) return undefined;
        if (replay.covers(e.subject, e.seq) && wants(e.subject)) {
          const frame = frameIfDeliverable(e.data, e.seq);
          if (frame) send(session, frame, e.seq, stats);
        }
        replay.cursor = e.seq;
        return writable(session, replay);
      },
    });
    if (result === 'too_long') throw tooFarBehind(this.maxEvents());
    if (!replay.aborted) replay.cursor = Math.max(replay.cursor, upTo);
  }

  /** The narrowest filter: the one subject when only one has events to read up to `upTo`, else the session's. */
  private streamFilter(session: Session, replay: ReplayState, upTo: number): string {
    if (typeof replay.after !== 'number') {
      const behind = [...replay.after].filter(([, after]) => after < upTo);
      if (behind.length === 1) return behind[0]![0];
    }
    return streamFilterOf(session.identity);
  }

  private subjectsOf(
    session: Session,
    replay: ReplayState,
  ): { exact: string[] | undefined; wants: (subject: string) => boolean } {
    if (typeof replay.after !== 'number') {
      const exact = [...replay.after.keys()];
      return { exact, wants: (subject) => replay.after instanceof Map && replay.after.has(subject) };
    }
    return { exact: undefined, wants: subjectFilterOf(session.identity, undefined) };
  }

  private maxEvents(): number {
    return this.deps.config().app.resume_max_replay_events;
  }

  private takeReplay(key: string): boolean {
    const now = this.now();
    const limit = this.deps.config().app.resume_max_replays_per_minute;
    const starts = (this.recent.get(key) ?? []).filter((at) => now - at < 60_000);
    if (starts.length >= limit) return false;
    starts.push(now);
    this.recent.set(key, starts);
    return true;
  }

  /** Waits for one of the STREAM_READS_AT_ONCE; a replay stopped meanwhile leaves the line. */
  private async turn(replay: ReplayState): Promise<void> {
    if (this.running < STREAM_READS_AT_ONCE) {
      this.running++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const stopped = () => {
        const at = this.waiting.indexOf(entry);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(unavailable('The replay was stopped.'));
      };
      const entry = {
        replay,
        start: () => {
          replay.signal.removeEventListener('abort', stopped);
          this.running++; // taken here: a read that asks meanwhile must not take it too
          resolve();
        },
      };
      this.waiting.push(entry);
      replay.signal.addEventListener('abort', stopped, { once: true });
    });
  }
}

/** Every subject of the session, each replayed after `seq` (admins: one sequence for all theirs). */
function everySubjectAfter(session: Session, seq: number): Map<string, number> | number {
  const id = session.identity;
  if (id.kind !== 'user') return seq;
  const after = new Map([[subjects.chats(id.companyId, id.agentId), seq]]);
  if (session.chatId) after.set(subjects.messages(id.companyId, id.agentId, session.chatId), seq);
  return after;
}

function send(session: Session, frame: Buffer, seq: number, stats: ReplayStats): void {
  session.sendUnbounded(frame, 'event');
  stats.from ||= seq;
  stats.to = seq;
  stats.count++;
}

/**
 * Settles once the client's socket takes frames again, or the replay was stopped (it holds a stream read meanwhile).
 */
function writable(session: Session, replay: ReplayState): Promise<void> | undefined {
  const wait = session.whenWritable();
  if (wait === undefined) return undefined;
  return new Promise<void>((resolve) => {
    const stopped = () => resolve();
    replay.signal.addEventListener('abort', stopped, { once: true });
    void wait.then(() => {
      replay.signal.removeEventListener('abort', stopped);
      resolve();
    });
  });
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function unavailable(message: string): GatewayError {
  return new GatewayError(ErrorCodes.ResumeUnavailable, message);
}

function tooFarBehind(max: number): GatewayError {
  return unavailable(`since is more than ${max} events behind (app.resume_max_replay_events); reload your state.`);
}
