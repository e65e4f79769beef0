import type { Logger } from '../app/logger.js';
import type { Metrics } from '../app/metrics.js';
import { eventFrame, parseEventPayload, parseSubject, subjectOf, type EventAddress } from '../domain/events.js';
import { keys } from '../domain/keys.js';
import type { EventSink, Forwarder, InboundEvent, RouteRegistry, Settlement } from '../domain/ports.js';
import { KeyedQueue } from './keyed-queue.js';
import { RecentIds } from './recent-ids.js';
import { RouteCache } from './route-cache.js';
import type { SessionRegistry } from './session-registry.js';

export interface EventRouterDeps {
  podId: string;
  registry: SessionRegistry;
  routes: RouteRegistry;
  forwarder: Forwarder | undefined;
  metrics: Metrics;
  log: Logger;
  markRoute(routeKey: string): void;
}

const MAX_RETRY_DELAY_MS = 30_000;
/** Events waiting for a redelivery remember which targets already have them (bounded). */
const MAX_REMEMBERED = 10_000;
/** How long the routing pod trusts a route set it read (joins are announced and seen at once). */
const ROUTE_CACHE_MS = 1000;
/** Event ids this pod delivered lately, per subject, so that a failover redelivery is not shown twice. */
const RECENT_EVENT_IDS = 50_000;

const SUBJECT_LABEL: Record<EventAddress['kind'], string> = {
  chats: 'wa.*.*.chats',
  messages: 'wa.*.*.messages.*',
  agents: 'wa.*.*.agents',
};

/**
 * Routes each event to every session that wants it, wherever in the fleet it lives
 * (SPEC §9.1, §9.2): this pod's sessions directly, every other pod of the route set over
 * gRPC. Events of one subject are routed one at a time, in stream order (SPEC §9.4).
 *
 * An event is acknowledged once every target pod took it; otherwise it is retried later, and
 * the retry skips the pods that already have it, so that no client sees an event twice.
 */
export class EventRouter implements EventSink {
  private readonly queue = new KeyedQueue();
  private readonly delivered = new Map<number, Set<string>>();
  private readonly recent = new RecentIds(RECENT_EVENT_IDS);
  private readonly routeCache = new RouteCache(ROUTE_CACHE_MS);
  private readonly sentEvents;
  private readonly received: Record<EventAddress['kind'] | 'invalid', { inc(): void }>;
  private readonly settled: Record<'acked' | 'invalid' | 'retried' | 'unreachable', { inc(): void }>;

  constructor(private readonly deps: EventRouterDeps) {
    const m = deps.metrics;
    this.sentEvents = m.messagesSent.labels('event');
    this.received = {
      chats: m.natsMessagesReceived.labels(SUBJECT_LABEL.chats),
      messages: m.natsMessagesReceived.labels(SUBJECT_LABEL.messages),
      agents: m.natsMessagesReceived.labels(SUBJECT_LABEL.agents),
      invalid: m.natsMessagesReceived.labels('invalid'),
    };
    this.settled = {
      acked: m.eventsSettled.labels('acked'),
      invalid: m.eventsSettled.labels('invalid'),
      retried: m.eventsSettled.labels('retried'),
      unreachable: m.eventsSettled.labels('target_unreachable'),
    };
  }

  /**
   * This pod's sessions get the event at once, in arrival order (the local index is the truth
   * for this pod); the route lookup and the forwards to other pods run one event at a time per
   * subject, so that remote clients see the same order.
   */
  routed(event: InboundEvent): Settlement | Promise<Settlement> {
    const address = parseSubject(event.subject);
    const payload = this.validPayload(event, address);
    if (!address || !payload || address.kind === 'agents') return this.settle(event, 'invalid');
    const routeKey = routeKeyOf(address);
    const done = this.delivered.get(event.seq) ?? new Set<string>();
    const waits: Array<Promise<void>> = [];
    if (!done.has(this.deps.podId)) {
      if (this.deliverLocally(address, payload.eventId, () => eventFrame(bytesOf(event.data)), waits) > 0) this.deps.markRoute(routeKey);
      done.add(this.deps.podId);
    }
    if (waits.length === 0 && !this.queue.has(event.subject) && this.noRemoteTarget(routeKey, done)) {
      return this.settle(event, 'acked'); // the common case: nothing to forward, nothing ahead of it
    }
    return this.queue.run(event.subject, () => this.routeRemote(event, address, routeKey, payload.value, done, waits));
  }

  private noRemoteTarget(routeKey: string, done: Set<string>): boolean {
    const members = this.routeCache.get(routeKey);
    return members !== undefined && members.every((pod) => done.has(pod));
  }

  broadcast(event: InboundEvent): void {
    const address = parseSubject(event.subject);
    const payload = this.validPayload(event, address);
    if (!address || !payload) return;
    this.deliverLocally(address, payload.eventId, () => eventFrame(bytesOf(event.data)));
  }

  /** An event pushed by another pod (gRPC PushEvent): delivered to this pod's sessions only. */
  acceptPushed(address: EventAddress, eventId: string, payloadJson: string): number {
    const count = this.deliverLocally(address, eventId, () => eventFrame(payloadJson));
    if (count > 0) this.deps.markRoute(routeKeyOf(address));
    return count;
  }

  /** A pod joined a route: the next event of that route reads the set again, and the pod is live. */
  routeAdded(routeKey: string, podId: string): void {
    this.routeCache.invalidate(routeKey);
    if (podId !== this.deps.podId) this.deps.forwarder?.reset(podId);
  }

  /** Resolves when every event handed over so far has been routed. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async routeRemote(
    event: InboundEvent,
    address: EventAddress,
    routeKey: string,
    payload: Record<string, unknown>,
    done: Set<string>,
    waits: Array<Promise<void>>,
  ): Promise<Settlement> {
    if (waits.length > 0) await Promise.all(waits);
    let members = this.routeCache.get(routeKey);
    if (!members) {
      const epoch = this.routeCache.epoch();
      try {
        members = await this.deps.routes.members(routeKey);
        this.routeCache.set(routeKey, members, epoch);
      } catch (err) {
        this.deps.log.warn({ err: (err as Error).message, route: routeKey }, 'route lookup failed; event will be retried');
        this.remember(event.seq, done);
        return this.retry(event);
      }
    }
    const remote = members.filter((pod) => !done.has(pod));
    if (remote.length > 0 && !(await this.forwardAll(event, address, payload, remote, done))) {
      this.remember(event.seq, done);
      return this.retry(event);
    }
    return this.settle(event, 'acked');
  }

  private async forwardAll(event: InboundEvent, address: EventAddress, payload: Record<string, unknown>, targets: string[], done: Set<string>): Promise<boolean> {
    const forwarder = this.deps.forwarder;
    if (!forwarder) return true;
    const request = { companyId: address.companyId, agentId: address.agentId, chatId: address.chatId ?? '', payload, requestId: event.requestId };
    const outcomes = await Promise.all(targets.map((pod) => forwarder.forward(pod, request)));
    let allTaken = true;
    outcomes.forEach((outcome, i) => {
      if (outcome === 'failed') allTaken = false;
      else done.add(targets[i]!);
      if (outcome === 'unreachable') this.settled.unreachable.inc();
    });
    return allTaken;
  }

  /** Sends to this pod's recipients; the frame is built once, and only when someone wants it. */
  private deliverLocally(address: EventAddress, eventId: string, makeFrame: () => Buffer, waits?: Array<Promise<void>>): number {
    const recipients = this.deps.registry.recipients(address);
    const count = 'size' in recipients ? recipients.size : recipients.length;
    if (count === 0) return 0;
    // A redelivery after a failover may bring an event this pod already delivered.
    if (eventId && this.recent.checkAndAdd(`${subjectOf(address)}\u0000${eventId}`)) return count;
    const now = Date.now();
    const frame = makeFrame();
    for (const session of recipients) {
      const blocked = session.deliver(frame);
      if (blocked && waits) waits.push(blocked);
      session.lastActivityMs = now;
    }
    this.sentEvents.inc(count);
    return count;
  }

  private validPayload(event: InboundEvent, address: EventAddress | undefined): { value: Record<string, unknown>; eventId: string } | undefined {
    this.received[address?.kind ?? 'invalid'].inc();
    if (!address) {
      this.deps.log.warn({ subject: event.subject, request_id: event.requestId }, 'event on an unknown subject dropped');
      return undefined;
    }
    const value = parseEventPayload(bytesOf(event.data).toString('utf8'));
    if (!value) {
      this.deps.log.warn({ subject: event.subject, request_id: event.requestId, seq: event.seq }, 'event payload is not a JSON object; dropped');
      return undefined;
    }
    return { value, eventId: typeof value.event_id === 'string' ? value.event_id : '' };
  }

  private settle(event: InboundEvent, outcome: 'acked' | 'invalid'): Settlement {
    this.delivered.delete(event.seq);
    this.settled[outcome].inc();
    return { ack: true };
  }

  private retry(event: InboundEvent): Settlement {
    this.settled.retried.inc();
    return { ack: false, retryInMs: Math.min(1000 * 2 ** (event.deliveryCount - 1), MAX_RETRY_DELAY_MS) };
  }

  private remember(seq: number, done: Set<string>): void {
    this.delivered.set(seq, done);
    if (this.delivered.size > MAX_REMEMBERED) this.delivered.delete(this.delivered.keys().next().value!);
  }

  /** A given-up event no longer needs its delivery record. */
  forget(seq: number): void {
    this.delivered.delete(seq);
  }
}

/** A Buffer view of the event bytes, without copying them. */
function bytesOf(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function routeKeyOf(address: EventAddress): string {
  return address.kind === 'messages'
    ? keys.messagesRoute(address.companyId, address.agentId, address.chatId ?? '')
    : keys.chatsRoute(address.companyId, address.agentId);
}
