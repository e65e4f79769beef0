import { BoundedMap } from '../domain/bounded-map.js';
import { ErrorCodes, GatewayError } from '../domain/errors.js';
import type { DeliveryHooks } from '../domain/metric-hooks.js';
import { eventIdOfPayload, subjectOf, type EventAddress } from '../domain/events.js';
import { errorFrame, eventFrame } from '../domain/frames.js';
import type { EventSink, Logger, StreamEvent } from '../domain/ports.js';
import { frameIfDeliverable, type EventHistory } from './event-history.js';
import type { Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';
import { systemClock, type Clock } from '../domain/clock.js';

export interface EventDispatcherDeps {
  registry: SessionRegistry;
  history: EventHistory;
  metrics: DeliveryHooks;
  log: Logger;
  now?: Clock;
}

/** How long a pushed event waits for the same event to come off this pod's own reading. */
const PUSH_HOLD_MS = 1000;
/** How far back a pushed event is looked for among the events this pod read. */
const PUSH_MATCH_WINDOW_MS = 60_000;
/** The most delivered event ids remembered when the history does not keep an event (about 100 bytes each). */
const DELIVERED_IDS_MAX = 100_000;
/** The most pushes held at once; beyond it a push that this pod has not read is shown at once. */
const HELD_PUSHES_MAX = 10_000;

type Recipients = ReadonlySet<Session> | Session[];

/**
 * Hands every event of the pod's reading of the stream to the pod's own sessions, in stream order
 * (docs/architecture.md, *How an event travels*). An event nobody on the pod wants costs a map
 * lookup on its subject and its place in the recent history; one that somebody wants is checked
 * to be a JSON object once and framed once for all its recipients. Each session's DeliveryPosition
 * says whether the event goes to it (not twice, not while a replay brings it).
 *
 * Events a Go replica pushes over gRPC are the same events this pod reads itself: a pushed event
 * that was already read (same subject and `event_id` within a minute) is not shown again, and
 * one that was not is held for a second in case the reading brings it, then delivered.
 */
export class EventDispatcher implements EventSink {
  /** The last sequence handed to the sessions (what a replay catches up to). */
  position = 0;
  /** Totals so far: events read, frames sent (the operator's page shows their rates). */
  readonly counts = { events: 0, frames: 0 };
  private readonly heldPushes = new Map<string, NodeJS.Timeout>();
  /**
   * For events the history did not keep: when this pod delivered each `event_id` of the last
   * minute, by subject, so that a Go replica's push of an event already shown is not shown again.
   */
  private readonly deliveredIds = new BoundedMap<number>(DELIVERED_IDS_MAX);
  private readonly sent;
  private readonly received;
  private readonly invalid;
  private readonly now: Clock;

  constructor(private readonly deps: EventDispatcherDeps) {
    ({ sent: this.sent, received: this.received, invalid: this.invalid } = deps.metrics);
    this.now = deps.now ?? systemClock;
  }

  deliver(event: StreamEvent): void {
    // Events come in stream order, but for one subject's events lost in transit, read late (lostInTransit):
    // those are not the history's to keep, whose replays rely on it holding everything after its first.
    const inOrder = event.seq > this.position;
    if (inOrder) this.position = event.seq;
    this.counts.events++;
    const { history } = this.deps;
    const kept = inOrder && history.append(event.seq, event.subject, event.data);
    this.countReceived(event.subject);
    const recipients = this.deps.registry.forSubject(event.subject);
    if (recipients === undefined) return;
    // Checked once: the history keeps the answer for replays and pushes of this event.
    const frame = kept ? history.newestFrame() : frameIfDeliverable(event.data, event.seq);
    if (frame === null) {
      this.dropInvalid(event);
      return;
    }
    const now = this.now();
    // Not in the history to look in later: the id is read now (a parse, for such events only).
    const unkeptId = kept ? undefined : eventIdOfPayload(event.data);
    if (unkeptId !== undefined) this.rememberDelivered(event.subject, unkeptId, now);
    if (this.heldPushes.size > 0) {
      const eventId = kept ? history.newestEventId() : unkeptId;
      if (eventId !== undefined) this.releaseHeldPush(event.subject, eventId);
    }
    let sent = 0;
    for (const session of recipients) {
      if (!session.position.takes(event.seq)) continue;
      session.lastActivityMs = now;
      session.deliver(frame);
      sent++;
    }
    this.sent.inc(sent);
    this.counts.frames += sent;
  }

  /**
   * An event a Go replica pushed (gRPC PushEvent): delivered to this pod's sessions unless this
   * pod read it already. Returns how many local sessions want it.
   */
  acceptPushed(address: EventAddress, eventId: string, payloadJson: string): number {
    const subject = subjectOf(address);
    const count = sizeOf(this.deps.registry.forSubject(subject) ?? []);
    if (count === 0) return 0;
    if (eventId && this.delivered(subject, eventId)) return count;
    const key = pushKey(subject, eventId);
    if (!eventId || this.heldPushes.size >= HELD_PUSHES_MAX) {
      this.sendPushed(subject, payloadJson);
      return count;
    }
    if (this.heldPushes.has(key)) return count;
    const timer = setTimeout(() => {
      this.heldPushes.delete(key);
      this.sendPushed(subject, payloadJson);
    }, PUSH_HOLD_MS);
    timer.unref();
    this.heldPushes.set(key, timer);
    return count;
  }

  startingAt(seq: number): void {
    this.position = Math.max(this.position, seq);
  }

  /**
   * Sessions already past the lost events would never get them: they are told, and reload. The history
   * no longer holds everything after its first event: it starts again with the next one.
   */
  lostInTransit(subject: string, fromSeq: number): void {
    this.deps.history.clear();
    const recipients = this.deps.registry.forSubject(subject);
    if (!recipients) return;
    const error = new GatewayError(ErrorCodes.ResumeUnavailable, 'Events were lost in transit; reload your state.');
    const frame = errorFrame(error.toBody());
    for (const session of recipients) if (session.position.lastSeq >= fromSeq) session.sendUnbounded(frame, 'error');
    this.deps.log.warn({ subject, from_seq: fromSeq }, 'events lost in transit; read again from the stream');
  }

  /** The stream was recreated: sequences restart, so does every session's place in them. */
  epochChanged(): void {
    this.position = 0;
    this.deps.history.clear();
    for (const session of this.deps.registry.all()) session.position.reset();
  }

  /** A pushed event has no sequence: it goes to every session that wants it, replaying or not. */
  private sendPushed(subject: string, payloadJson: string): void {
    const recipients = this.deps.registry.forSubject(subject);
    if (!recipients) return;
    const frame = eventFrame(payloadJson);
    for (const session of recipients) session.deliver(frame);
    this.sent.inc(sizeOf(recipients));
  }

  /** Whether this pod read and delivered the event within PUSH_MATCH_WINDOW_MS. */
  private delivered(subject: string, eventId: string): boolean {
    if (this.deps.history.has(subject, eventId, PUSH_MATCH_WINDOW_MS)) return true;
    const at = this.deliveredIds.get(pushKey(subject, eventId));
    return at !== undefined && this.now() - at <= PUSH_MATCH_WINDOW_MS;
  }

  private rememberDelivered(subject: string, eventId: string, now: number): void {
    for (const [key, at] of this.deliveredIds) {
      if (now - at <= PUSH_MATCH_WINDOW_MS) break; // the oldest first: the rest are younger
      this.deliveredIds.delete(key);
    }
    this.deliveredIds.set(pushKey(subject, eventId), now);
  }

  private releaseHeldPush(subject: string, eventId: string): void {
    const key = pushKey(subject, eventId);
    const timer = this.heldPushes.get(key);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.heldPushes.delete(key);
  }

  private dropInvalid(event: StreamEvent): void {
    this.invalid.inc();
    this.deps.log.warn({ subject: event.subject, seq: event.seq }, 'event payload is not a JSON object; dropped');
  }

  private countReceived(subject: string): void {
    if (subject.endsWith('.chats')) this.received.chats.inc();
    else if (subject.endsWith('.agents')) this.received.agents.inc();
    else if (subject.includes('.messages.')) this.received.messages.inc();
    else this.received.other.inc();
  }
}

function pushKey(subject: string, eventId: string): string {
  return `${subject}\u0000${eventId}`;
}

function sizeOf(recipients: Recipients): number {
  return 'size' in recipients ? recipients.size : recipients.length;
}
