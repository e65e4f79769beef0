/**
 * Ports: what the services need from the outside world. Redis, NATS and gRPC adapters
 * implement them for the cluster engine; the memory adapters implement them for the embedded
 * single-node engine. Only the composition root (src/app/gateway.ts) picks implementations.
 */

/** Exclusive session locks: `session:…` → pod id (SPEC §5). */
export interface SessionLocks {
  /** SET NX with a TTL; true when this call took the lock. */
  acquire(key: string, owner: string, ttlSeconds: number): Promise<boolean>;
  /** Plain SET: takes the lock whoever holds it. */
  forceAcquire(key: string, owner: string, ttlSeconds: number): Promise<void>;
  /** Compare-and-delete: true when the lock was still `owner`'s and is now gone. */
  release(key: string, owner: string): Promise<boolean>;
  /** Compare-and-expire: true when the lock is still `owner`'s and its TTL was renewed. */
  refresh(key: string, owner: string, ttlSeconds: number): Promise<boolean>;
}

export interface KillMessage {
  new_pod_id: string;
}

export type KillHandler = (channel: string, message: KillMessage) => void;

/** The kill switch: a pod that takes a session tells the holder to close it (SPEC §5). */
export interface KillSwitch {
  publish(channel: string, message: KillMessage): Promise<void>;
  /** Listens on both kill patterns until close(); re-subscribes by itself after a drop. */
  listen(handler: KillHandler): Promise<void>;
  close(): Promise<void>;
}

/** Route sets: which pods hold sessions for an agent's chat list or a chat (SPEC §5). */
export interface RouteRegistry {
  add(routeKey: string, podId: string, ttlSeconds: number): Promise<void>;
  remove(routeKey: string, podId: string): Promise<void>;
  members(routeKey: string): Promise<string[]>;
  /** SISMEMBER-and-EXPIRE: true when `podId` is a member and the TTL was renewed. */
  refresh(routeKey: string, podId: string, ttlSeconds: number): Promise<boolean>;
  /** Hears every add() of any pod of the fleet (daisi-ws pods announce them). */
  onAdded(listener: (routeKey: string, podId: string) => void): Promise<void>;
  close(): Promise<void>;
}

/** `<key>:last_active` timestamps (unix seconds). */
export interface ActivityStore {
  touch(keys: string[], ttlSeconds: number, nowMs: number): Promise<void>;
}

/** Validated tokens, keyed by `token_cache:<sha256>`, value the claims JSON (SPEC §3). */
export interface TokenCache {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
}

/** One event as it comes off the stream. */
export interface InboundEvent {
  subject: string;
  data: Uint8Array;
  /** Stream sequence: identifies the event across redeliveries. */
  seq: number;
  /** 1 on first delivery. */
  deliveryCount: number;
  requestId: string | undefined;
}

export type Settlement = { ack: true } | { ack: false; retryInMs: number };

export interface EventSink {
  /** Events that need routing to the pods in the route sets: chats and messages (settled at once when it can be). */
  routed(event: InboundEvent): Settlement | Promise<Settlement>;
  /** Events every pod delivers to its own admin sessions: agents. */
  broadcast(event: InboundEvent): void;
}

/** The event stream (NATS JetStream or the embedded one). */
export interface EventStream {
  start(sink: EventSink): Promise<void>;
  publish(subject: string, data: Uint8Array, requestId?: string): Promise<{ seq: number }>;
  /** Number of consumers this pod holds on the stream server (constant, whatever the load). */
  consumerCount(): number;
  stop(): Promise<void>;
}

export interface ForwardRequest {
  companyId: string;
  agentId: string;
  /** Empty for chat-list events. */
  chatId: string;
  payload: Record<string, unknown>;
  requestId: string | undefined;
}

/**
 * `failed`: worth retrying; `unreachable`: the target's circuit is open (it is down), so the
 * event is not held back for it — its clients reconnect to a live pod.
 */
export type ForwardOutcome = 'delivered' | 'no_session' | 'failed' | 'unreachable';

/** Pushes an event to another pod (gRPC PushEvent, SPEC §6). */
export interface Forwarder {
  forward(targetPodId: string, request: ForwardRequest): Promise<ForwardOutcome>;
  /** The target showed up again (it joined a route): try it at once, whatever its circuit says. */
  reset(targetPodId: string): void;
  close(): Promise<void>;
}
