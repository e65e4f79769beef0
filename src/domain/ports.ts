/**
 * Ports: what the services need from the outside world. Redis, NATS and gRPC adapters
 * implement them for the cluster engine; the memory adapters implement them for the embedded
 * single-node engine. Only the composition root (src/app/gateway.ts) picks implementations.
 */

/** Exclusive session locks: `session:…` → pod id (docs/protocol.md, *Redis*). */
export interface SessionLocks {
  /** SET NX with a TTL; true when this call took the lock. */
  acquire(key: string, owner: string, ttlSeconds: number): Promise<boolean>;
  /** Plain SET: takes the lock whoever holds it. */
  forceAcquire(key: string, owner: string, ttlSeconds: number): Promise<void>;
  /** Compare-and-delete: true when the lock was still `owner`'s and is now gone. */
  release(key: string, owner: string): Promise<boolean>;
  /**
   * Compare-and-expire of many locks in one call: for each [key, ttl], true when the lock is
   * still `owner`'s and its TTL was renewed.
   */
  refresh(entries: ReadonlyArray<readonly [key: string, ttlSeconds: number]>, owner: string): Promise<boolean[]>;
}

export interface KillMessage {
  new_pod_id: string;
}

export type KillHandler = (channel: string, message: KillMessage) => void;

/** The kill switch: a pod that takes a session tells the holder to close it (docs/protocol.md, *Redis*). */
export interface KillSwitch {
  publish(channel: string, message: KillMessage): Promise<void>;
  /** Listens on both kill patterns until close(); re-subscribes by itself after a drop. */
  listen(handler: KillHandler): Promise<void>;
  close(): Promise<void>;
}

/**
 * Route sets: which pods hold sessions for an agent's chat list or a chat (docs/protocol.md, *Redis*). daisi-ws
 * pods do not need them to deliver (each reads the stream itself, docs/architecture.md, *How an event travels*); they
 * keep them for the Go replicas of a mixed fleet, which push events to the pods in them.
 */
export interface RouteRegistry {
  add(routeKey: string, podId: string, ttlSeconds: number): Promise<void>;
  remove(routeKey: string, podId: string): Promise<void>;
  /**
   * SISMEMBER-and-EXPIRE of many route sets in one call: for each [key, ttl], true when `podId` is a member and the TTL
   * was renewed.
   */
  refresh(entries: ReadonlyArray<readonly [routeKey: string, ttlSeconds: number]>, podId: string): Promise<boolean[]>;
  /** Every pod id found in any route set (the Go replicas and daisi-ws pods of the fleet). */
  podIds(): Promise<Set<string>>;
  /** Every route key whose set holds `podId` (a scan: for the clean-up at start, not for hot paths). */
  routesOf(podId: string): Promise<string[]>;
}

/** `<key>:last_active` timestamps (unix seconds). */
export interface ActivityStore {
  touch(keys: string[], ttlSeconds: number, nowMs: number): Promise<void>;
}

/** Validated tokens, keyed by `token_cache:<sha256>`, value the claims JSON (docs/protocol.md, *Tokens*). */
export interface TokenCache {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
}

/** One event as it comes off the stream, in stream order. */
export interface StreamEvent {
  subject: string;
  /** The producer's bytes, unchanged. */
  data: Uint8Array;
  /** Stream sequence: identifies the event (a redelivery has the same one). */
  seq: number;
}

/**
 * Where a pod's reading of the stream goes: `deliver` is called once per event, in stream order.
 * It never holds the reading up (a session that cannot keep up is that session's problem: its
 * send queue's policy, then the slow-client rules).
 */
export interface EventSink {
  deliver(event: StreamEvent): void;
  /** Reading begins (again) after this sequence: nothing at or below it will be delivered. */
  startingAt(seq: number): void;
  /**
   * Events of `subject` from `fromSeq` on were lost in transit and are delivered late, in order: a
   * session that was already handed a later event cannot take them, and must be told.
   */
  lostInTransit(subject: string, fromSeq: number): void;
  /** The stream was recreated: its sequences start again, and so does every session's place in them. */
  epochChanged(): void;
}

/** What a replay reads from the stream's history. */
export interface HistoryRead {
  /** Subject filter (`wa.c.a.>`, or one subject): the caller picks its own subjects out of it. */
  filter: string;
  /** First sequence to read. */
  fromSeq: number;
  /** Read up to and including this sequence. */
  toSeq: number;
  /** When more events than this match the filter from `fromSeq` on, nothing is read: 'too_long'. */
  maxEvents: number;
  /** Each event, in order; a returned promise holds the reading until it settles (the client's socket is full). */
  onEvent(event: StreamEvent): void | Promise<void>;
  /** The replay was stopped: the reading ends. */
  signal: AbortSignal;
}

/** The event stream (NATS JetStream or the embedded one), read by each pod for its own sessions. */
export interface EventStream {
  start(sink: EventSink): Promise<void>;
  publish(subject: string, data: Uint8Array, requestId?: string): Promise<{ seq: number }>;
  /** Changes when the stream is recreated (its sequences restart); empty before the first read. */
  epoch(): string;
  /**
   * A sequence the stream is known to have reached (the pod's reading position, or its last look at the
   * stream, at most a second old): every event stored from now on comes after it. A live `select_chat`
   * starts there.
   */
  head(): number;
  /** The stream's first stored sequence (what a resume can still reach), and its last. */
  bounds(): Promise<{ first: number; last: number }>;
  /**
   * Reads stored events, in order, for a replay, asking the server for a few at a time (it sends
   * nothing it was not asked for); resolves once `toSeq` was passed or the read was stopped.
   */
  readHistory(read: HistoryRead): Promise<'done' | 'too_long'>;
  /** Number of consumers this pod holds on the stream server (constant, whatever the load). */
  consumerCount(): number;
  /**
   * A session here wants a subject or pattern (`wa.c.a.chats`, `wa.c.*.agents`): with interest
   * reading the pod receives it from now on. Each call is matched by one unwant().
   */
  want(pattern: string): void;
  unwant(pattern: string): void;
  /**
   * The sequence after which this pod has read (or will read) every event of `pattern`: known at once
   * when the pod reads the whole stream, once its subscription is in place with interest reading.
   * A replay reads what lies before it from the stream. Undefined while a new subscription is measured.
   */
  liveFrom(pattern: string): number | undefined;
  /** liveFrom, once it is known. */
  whenLive(pattern: string): Promise<number>;
  /** Before a new session's `ready`: the pod receives its patterns' events from then on (bounded wait). */
  prepare(patterns: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

/** Which sessions an operator asks about: all, or those of a company, agent, user or admin. */
export interface SessionFilter {
  companyId?: string;
  agentId?: string;
  userId?: string;
  adminId?: string;
}

/** Whom an operator disconnects: a company (and agent, and user), or an admin. */
export type DisconnectTarget =
  | { kind: 'company'; companyId: string; agentId?: string; userId?: string }
  | { kind: 'admin'; adminId: string };

/** A request of the operator API, asked of every daisi-ws pod of the fleet. */
export type OperatorRequest =
  | { kind: 'sessions'; filter: SessionFilter; limit: number }
  | { kind: 'disconnect'; target: DisconnectTarget; reason: string; blockUntilMs: number };

/** One session as the operator API lists it (docs/protocol.md, *Operator API*). */
export interface SessionInfo {
  type: 'company' | 'admin';
  company_id?: string;
  agent_id?: string;
  user_id?: string;
  admin_id?: string;
  pod_id: string;
  connected_at: string;
  chat_id?: string;
}

/** One pod's answer: its sessions (the first `limit` that match) or how many it disconnected. */
export interface PodAnswer {
  podId: string;
  sessions: SessionInfo[];
  /** Sessions that match, also beyond `limit`. */
  matching: number;
  /** All of the pod's sessions. */
  total: number;
  disconnected: number;
  eventsPerSecond: number;
  framesPerSecond: number;
}

/**
 * The operator's line to every daisi-ws pod: a request goes to all of them, and each answers for its
 * own sessions. Nothing of it is on the event path.
 */
export interface OperatorBus {
  /** Answers the fleet's requests for this pod, until close(). */
  serve(answer: (request: OperatorRequest) => PodAnswer): void;
  /** Asks every pod; resolves with the answers that came within `timeoutMs` (early once `expected` all did). */
  ask(request: OperatorRequest, timeoutMs: number, expected: ReadonlySet<string>): Promise<PodAnswer[]>;
  close(): Promise<void>;
}

/** The daisi-ws pods that are alive: each announces itself every few seconds. */
export interface PodDirectory {
  announce(podId: string, nowMs: number): Promise<void>;
  /** Pods announced since `sinceMs`. */
  alive(sinceMs: number): Promise<string[]>;
  leave(podId: string): Promise<void>;
}

/** Operators' blocks, shared by every pod and kept across restarts: key → until when (ms). */
/** An operator's block: until when, and the reason the refused client is told. */
export interface Block {
  untilMs: number;
  reason: string;
}

export interface BlockStore {
  put(key: string, block: Block): Promise<void>;
  /** Every block in force at `nowMs` (expired ones are forgotten on the way). */
  inForce(nowMs: number): Promise<Map<string, Block>>;
}

/**
 * What the services and transports log through: pino's shape (fields first, then the message),
 * so that nothing below app/ and platform/ depends on the logging library.
 */
export interface Logger {
  level: string;
  /** Whether a line at `level` is written: a line per handshake builds its fields only then. */
  isLevelEnabled(level: string): boolean;
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object | string, message?: string): void;
  error(fields: object, message?: string): void;
}

/** A row value as JSON (the CDC bridge's `row_data`). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * What a replication slot streams (docs/protocol.md, *Row changes*): transactions in commit order,
 * each `begin`, its row changes in statement order, `commit`. LSNs are PostgreSQL's, as numbers.
 */
export type SlotEvent =
  | { kind: 'begin'; commitLsn: bigint; commitTime: string }
  | {
      kind: 'change';
      schema: string;
      table: string;
      action: 'insert' | 'update' | 'delete';
      /** The row after the change; before it for a delete. */
      record: Record<string, JsonValue>;
      /** Update: the old values of exactly the columns that changed (null when the old row is not known). */
      changes: Record<string, JsonValue> | null;
      /** Columns whose unchanged TOASTed value the slot did not send and the old row did not hold. */
      unchangedToast: string[];
    }
  | { kind: 'commit'; commitLsn: bigint; endLsn: bigint; commitTime: string };

export interface SlotListener {
  /** The slot is this reader's: the server streams from now on. */
  started(): void;
  /** Each event in order; a returned promise holds the reading until it settles (backpressure). */
  event(event: SlotEvent): void | Promise<void>;
  /** The server's keepalive: everything it had up to `walEnd` has been sent. */
  keepalive(walEnd: bigint): void;
}

/** A logical replication slot (PostgreSQL), read by one bridge at a time. */
export interface ReplicationSlot {
  /** Reads from where the slot was confirmed until stop() or an error (rejects: the caller starts again). */
  read(listener: SlotListener): Promise<void>;
  /** Everything before `lsn` is safe elsewhere: the server may drop the WAL for it. */
  confirm(lsn: bigint): void;
  stop(): Promise<void>;
}

/** One row change as the bridge publishes it. */
export interface CdcChange {
  subject: string;
  data: Uint8Array;
  /** Deterministic from the change's position: `<slot>:<commit LSN>:<index>`. */
  id: string;
  slot: string;
  commitLsn: string;
  index: number;
}

/** The last transaction the bridge published whole, and the stream sequence of its last change. */
export interface CdcCheckpoint {
  commitLsn: string;
  seq: number;
}

export interface CdcRecovery {
  checkpoint: CdcCheckpoint | undefined;
  /** Per commit LSN after the checkpoint, the highest change index the stream holds. */
  published: Map<string, number>;
  /** The stream sequence of the bridge's last change found. */
  lastSeq: number;
}

/** The stream side of the CDC bridge (JetStream). */
export interface CdcPublisher {
  prepare(): Promise<void>;
  /** What the stream already holds of the slot's changes (any downtime: not JetStream's duplicate window). */
  recover(slot: string): Promise<CdcRecovery>;
  /** Resolves with the stream sequence once JetStream stored the change. Called in order. */
  publish(change: CdcChange): Promise<number>;
  checkpoint(slot: string, checkpoint: CdcCheckpoint): Promise<void>;
}
