import type { ResumeHooks } from '../domain/metric-hooks.js';
import { ErrorCodes, GatewayError } from '../domain/errors.js';
import type { EventStream, Logger } from '../domain/ports.js';
import { streamFilterOf, subjectFilterOf, userSubjectsOf, type Session } from '../domain/session.js';
import { checkEvent, type EventHistory } from './event-history.js';

export interface ResumeDeps {
  stream: EventStream;
  metrics: ResumeHooks;
  history: EventHistory;
  /** The last sequence this pod's reading handed to its sessions. */
  position(): number;
  log: Logger;
}

export interface ResumeRequest {
  since: number;
  /** The epoch the client's `since` belongs to. */
  epoch: string;
  /** Only these subjects (select_chat with `since`: the chat's messages); default: all of the session's. */
  subject?: string;
}

/** Stream reads for resumes at once on one pod: a reconnect storm does not become one consumer per session. */
const STREAM_READS_AT_ONCE = 4;

/**
 * Resume after a reconnect (SPEC §11): replays a session's subjects above `since`, in stream
 * order, then lets the live events it held meanwhile through, with no gap and no duplicate at
 * the seam.
 *
 * The session holds its live events from the moment it is registered (Session.held); the replay
 * covers everything up to the pod's reading position at that moment, from the pod's recent
 * history when it reaches back far enough (no NATS at all), otherwise from the stream through a
 * short-lived consumer, a few at a time per pod, then from the history for the rest.
 */
export class ResumeService {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly deps: ResumeDeps) {}

  /** The stream's current epoch (the `ready` frame carries it). */
  epoch(): string {
    return this.deps.stream.epoch();
  }

  /** Starts holding live events for a session that is about to be registered. */
  hold(session: Session): void {
    session.held ??= [];
  }

  /** Sends what the session held and lets live events through from now on. */
  release(session: Session): void {
    const held = session.held;
    session.held = undefined;
    if (!held) return;
    for (const { seq, frame } of held) {
      if (seq !== undefined) {
        if (seq <= session.lastSeq) continue;
        session.lastSeq = seq;
      }
      session.sendUnbounded(frame, 'event');
    }
  }

  /**
   * Replays and then releases the session (which must be holding). Never throws: a resume that
   * cannot be served tells the client ResumeUnavailable and goes on live.
   */
  async resume(session: Session, request: ResumeRequest): Promise<void> {
    this.hold(session);
    const end = this.deps.position();
    // A user's subjects are known strings: the history walks just those; admins match a pattern.
    const exact = request.subject === undefined ? userSubjectsOf(session.identity, session.chatId) : [request.subject];
    const wants = exact ? (subject: string) => exact.includes(subject) : subjectFilterOf(session.identity, session.chatId);
    const replay = { from: 0, to: 0, count: 0 };
    const send = (frame: Buffer, seq: number) => {
      session.sendUnbounded(frame, 'event');
      replay.from ||= seq;
      replay.to = seq;
      replay.count++;
    };
    try {
      if (request.epoch !== this.epoch()) throw unavailable('The stream was recreated since then (epoch differs); reload your state.');
      let cursor = request.since;
      let source: 'memory' | 'stream' = 'memory';
      while (cursor < end) {
        const memoryFirst = this.deps.history.firstSeq;
        if (memoryFirst !== undefined && memoryFirst <= cursor + 1) {
          // The history holds frames of payloads already known to be JSON objects.
          const visit = (subject: string, frame: Buffer, seq: number) => void (seq <= end && wants(subject) && send(frame, seq));
          if (exact) this.deps.history.forEachOf(exact, cursor, visit);
          else this.deps.history.forEach(cursor, visit);
          cursor = end;
        } else {
          const upTo = Math.min(end, (memoryFirst ?? end + 1) - 1);
          source = 'stream';
          await this.fromStream(session, cursor, upTo, request.epoch, (subject, data, seq) => {
            const frame = wants(subject) ? checkEvent(data, seq) : null;
            if (frame) send(frame, seq);
          });
          cursor = upTo;
        }
      }
      // Live events from here on are above `end`; a client that resumes from further than this pod
      // has read (it was on a pod ahead of this one) must not get those up to its `since` again.
      session.lastSeq = Math.max(session.lastSeq, end, request.subject === undefined ? request.since : 0);
      this.deps.metrics.resumed(source);
      session.sendUnbounded(Buffer.from(JSON.stringify({ type: 'resumed', payload: replay })), 'resumed');
    } catch (err) {
      const error = err instanceof GatewayError ? err : unavailable('The history could not be read; reload your state.');
      if (!(err instanceof GatewayError)) this.deps.log.warn({ err, session_key: session.key }, 'resume failed');
      this.deps.metrics.resumed('unavailable');
      session.lastSeq = Math.max(session.lastSeq, end);
      session.sendUnbounded(Buffer.from(JSON.stringify({ type: 'error', payload: error.toBody() })), 'error');
    } finally {
      this.release(session);
    }
  }

  private async fromStream(session: Session, after: number, upTo: number, epoch: string, send: (subject: string, data: Uint8Array, seq: number) => void): Promise<void> {
    await this.turn();
    try {
      const { first } = await this.deps.stream.bounds();
      if (first > after + 1) throw unavailable(`The stream no longer holds events after ${after} (it starts at ${first}); reload your state.`);
      await this.deps.stream.readHistory({
        filter: streamFilterOf(session.identity),
        fromSeq: after + 1,
        toSeq: upTo,
        onEvent: (e) => send(e.subject, e.data, e.seq),
      });
      if (this.epoch() !== epoch) throw unavailable('The stream was recreated during the resume; reload your state.');
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  private async turn(): Promise<void> {
    if (this.running >= STREAM_READS_AT_ONCE) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
  }
}

function unavailable(message: string): GatewayError {
  return new GatewayError(ErrorCodes.ResumeUnavailable, message);
}
