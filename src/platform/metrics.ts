import { readdir } from 'node:fs/promises';
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  exponentialBuckets,
  type LabelValues,
} from 'prom-client';
import type {
  AuthHooks,
  Count,
  DeliveryHooks,
  RenewalHooks,
  ResumeHooks,
  SessionHooks,
} from '../domain/metric-hooks.js';

const MAX_SOURCE_POD_LABELS = 100;

/**
 * The Go service's Prometheus metrics (docs/protocol.md, *Metrics*): same names, types, labels and buckets. One
 * registry per gateway, so that several gateways can live in one process (tests, benchmarks).
 *
 * Per-connection labels (`session_key`) are aggregated to the value "all" unless
 * app.metrics_session_labels is set: a label per session grows without bound (docs/compat.md #15).
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  private readonly gauge = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers: [this.registry] });
  private readonly histogram = <L extends string>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: L[] = [],
  ) => new Histogram<L>({ name, help, buckets, labelNames, registers: [this.registry] });

  readonly activeConnections = this.gauge('dws_active_connections', 'Number of active WebSocket connections.');
  readonly connectionsTotal = this.counter(
    'dws_connections_total',
    'Total WebSocket connections initiated (successful handshakes).',
  );
  readonly connectionDuration = this.histogram(
    'dws_connection_duration_seconds',
    'Duration of WebSocket connections.',
    exponentialBuckets(0.1, 2, 15),
  );
  readonly messagesReceived = this.counter(
    'dws_messages_received_total',
    'Total messages received from clients, partitioned by message type.',
    ['message_type'],
  );
  readonly messagesSent = this.counter(
    'dws_messages_sent_total',
    'Total messages sent to clients, partitioned by message type.',
    ['message_type'],
  );
  readonly authSuccess = this.counter('dws_auth_success_total', 'Successful token validations.', ['token_type']);
  readonly authFailure = this.counter('dws_auth_failure_total', 'Failed token validations.', ['token_type', 'reason']);
  readonly sessionConflicts = this.counter('dws_session_conflicts_total', 'Number of session conflicts detected.', [
    'user_type',
  ]);
  readonly natsMessagesReceived = this.counter(
    'dws_nats_messages_received_total',
    'Messages received from NATS, partitioned by NATS subject.',
    ['nats_subject'],
  );
  readonly grpcMessagesReceived = this.counter(
    'dws_grpc_messages_received_total',
    'Messages received via gRPC, partitioned by source pod ID.',
    ['source_pod_id'],
  );
  readonly sessionLockAttempts = this.counter(
    'dws_session_lock_attempts_total',
    'Total session lock acquisition attempts.',
    ['user_type', 'lock_type'],
  );
  readonly sessionLockSuccess = this.counter(
    'dws_session_lock_success_total',
    'Total successful session lock acquisitions.',
    ['user_type', 'lock_type'],
  );
  readonly sessionLockFailure = this.counter(
    'dws_session_lock_failure_total',
    'Total failed session lock acquisitions.',
    ['user_type', 'reason'],
  );
  readonly wsBufferUsed = this.gauge(
    'dws_websocket_buffer_used_count',
    'Current number of messages in the WebSocket send buffer.',
    ['session_key'],
  );
  readonly wsBufferCapacity = this.gauge(
    'dws_websocket_buffer_capacity_count',
    'Capacity of the WebSocket send buffer.',
    ['session_key'],
  );
  readonly wsDropped = this.counter(
    'dws_websocket_messages_dropped_total',
    'Total messages dropped due to WebSocket backpressure.',
    ['session_key', 'reason'],
  );
  readonly wsSlowDisconnected = this.counter(
    'dws_websocket_slow_clients_disconnected_total',
    'Total slow WebSocket clients disconnected.',
  );
  readonly ttlCalculated = this.histogram(
    'dws_redis_ttl_calculated_seconds',
    'Distribution of calculated TTL values for Redis keys, partitioned by key type.',
    exponentialBuckets(1, 2, 16),
    ['key_type'],
  );
  readonly ttlDecision = this.counter(
    'dws_redis_ttl_decision_total',
    'Total adaptive TTL decisions made, partitioned by key type and decision outcome.',
    ['key_type', 'decision'],
  );
  readonly activityAge = this.histogram(
    'dws_redis_activity_age_seconds',
    'Distribution of the age of the last activity timestamp when making TTL decisions.',
    exponentialBuckets(1, 2, 16),
    ['key_type'],
  );
  readonly lockRenewalAttempts = this.counter(
    'dws_session_lock_renewal_attempts_total',
    'Total session lock renewal attempts.',
    ['user_type'],
  );
  readonly lockRenewalSuccess = this.counter(
    'dws_session_lock_renewal_success_total',
    'Total successful session lock renewals.',
    ['user_type'],
  );
  readonly lockRenewalFailure = this.counter(
    'dws_session_lock_renewal_failure_total',
    'Total failed session lock renewals.',
    ['user_type', 'reason'],
  );
  // Beyond the Go service: what happened to events taken off the stream.
  readonly eventsSettled = this.counter(
    'dws_events_settled_total',
    'Events read off the stream that could not be delivered, by outcome (invalid: not a JSON object).',
    ['outcome'],
  );
  readonly readerResets = this.counter(
    'dws_stream_reader_resets_total',
    "Times this pod's stream reader started over after its last sequence (gap, missed heartbeats, reconnect).",
    [],
  );
  readonly refusals = this.counter(
    'dws_refusals_total',
    'Requests, upgrades and pushes refused, by surface (http, websocket, grpc) and error code (limits: ' +
      'RateLimitExceeded, ServiceUnavailable; gRPC peers: E4003).',
    ['surface', 'code'],
  );
  readonly configReloads = this.counter(
    'dws_config_reload_total',
    'Configuration reloads (SIGHUP or a change of the file), by result: ok, or failed (invalid, empty or missing ' +
      'file: the running configuration stays).',
    ['result'],
  );
  readonly resumes = this.counter(
    'dws_resumes_total',
    'Resumes after a reconnect, by where the replay came from (memory, stream) or unavailable.',
    ['source'],
  );

  readonly grpcPushes = this.counter(
    'dws_grpc_pushes_total',
    'PushEvent calls of Go replicas, by outcome: delivered (local sessions want the event), no_session (none does; answered success, since this pod reads the stream itself and a Go pod NAKs and redelivers on false).',
    ['outcome'],
  );
  readonly operatorRequests = this.counter(
    'dws_operator_requests_total',
    'Operator API calls (GET /api/sessions, POST /api/disconnect), by action and result: complete (every pod answered), incomplete, refused.',
    ['action', 'result'],
  );
  readonly historyBytes = this.gauge(
    'dws_history_bytes',
    'Payload bytes the recent history holds for resumes (at most app.resume_max_bytes).',
  );
  readonly historyEvents = this.gauge(
    'dws_history_events',
    'Events the recent history holds for resumes (at most app.resume_max_events).',
  );
  readonly queuedBytes = this.gauge(
    'dws_websocket_queued_bytes',
    "Bytes of frames waiting in the send queues of this pod's connections (each at most " +
      'app.websocket_max_queued_bytes).',
  );

  private readonly sourcePods = new Set<string>();

  constructor(private readonly perSessionLabels = false) {
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    withoutBlockingDefaults(this.registry);
  }

  /** The history's gauges, read at each scrape. */
  observeHistory(history: { readonly size: number; readonly payloadBytes: number }): void {
    const bytes = this.historyBytes as unknown as { collect?: () => void };
    const events = this.historyEvents as unknown as { collect?: () => void };
    bytes.collect = () => this.historyBytes.set(history.payloadBytes);
    events.collect = () => this.historyEvents.set(history.size);
  }

  /** The delivery path's counters: tallies, one per label set. */
  deliveryHooks(): DeliveryHooks {
    const received = (nats_subject: string) => tally(this.natsMessagesReceived, { nats_subject });
    return {
      sent: tally(this.messagesSent, { message_type: 'event' }),
      received: {
        chats: received('wa.*.*.chats'),
        messages: received('wa.*.*.messages.*'),
        agents: received('wa.*.*.agents'),
        other: received('invalid'),
      },
      invalid: tally(this.eventsSettled, { outcome: 'invalid' }),
    };
  }

  sessionHooks(): SessionHooks {
    return {
      lockAttempt: (user_type, lock_type) => this.sessionLockAttempts.inc({ user_type, lock_type }),
      lockAcquired: (user_type, lock_type) => this.sessionLockSuccess.inc({ user_type, lock_type }),
      lockFailed: (user_type, reason) => this.sessionLockFailure.inc({ user_type, reason }),
      conflict: (user_type) => this.sessionConflicts.inc({ user_type }),
    };
  }

  renewalHooks(): RenewalHooks {
    return {
      ttlDecided: (key_type, decision, ttl, age) => {
        this.ttlDecision.inc({ key_type, decision });
        this.ttlCalculated.observe({ key_type }, ttl);
        if (age !== undefined) this.activityAge.observe({ key_type }, age);
      },
      lockRenewal: (user_type, outcome) =>
        (outcome === 'attempt' ? this.lockRenewalAttempts : this.lockRenewalSuccess).inc({ user_type }),
      lockRenewalFailed: (user_type, reason) => this.lockRenewalFailure.inc({ user_type, reason }),
      conflict: (user_type) => this.sessionConflicts.inc({ user_type }),
    };
  }

  authHooks(): AuthHooks {
    return {
      authSucceeded: (token_type) => this.authSuccess.inc({ token_type }),
      authFailed: (token_type, reason) => this.authFailure.inc({ token_type, reason }),
    };
  }

  resumeHooks(): ResumeHooks {
    return { resumed: (source) => this.resumes.inc({ source }) };
  }

  /**
   * The `source_pod_id` label of a push from an allowed peer: the first 100 values, then
   * "other", so that invented pod ids cannot grow the series without bound.
   */
  sourcePodLabel(podId: string): string {
    const value = podId || 'unknown';
    if (this.sourcePods.has(value)) return value;
    if (this.sourcePods.size >= MAX_SOURCE_POD_LABELS) return 'other';
    this.sourcePods.add(value);
    return value;
  }

  /** The `session_key` label value: the key itself only when per-session labels are enabled. */
  sessionLabel(sessionKey: string): string {
    return this.perSessionLabels ? sessionKey : 'all';
  }
}

/**
 * prom-client's defaults that make a scrape cost the event loop time in proportion to the open
 * connections (measured at 8,600 sockets): `process_open_fds` lists /proc/self/fd synchronously
 * (8–12 ms), `nodejs_active_handles` and `nodejs_active_resources` list every handle (4–8 ms). The
 * first, which Go's process collector has too, is counted off the loop (the listing in the thread
 * pool; 2–3 ms left on the loop to take its result); the others go — `dws_active_connections`
 * counts what they would mostly show.
 */
function withoutBlockingDefaults(registry: Registry): void {
  for (const name of [
    'process_open_fds',
    'nodejs_active_handles',
    'nodejs_active_handles_total',
    'nodejs_active_resources',
    'nodejs_active_resources_total',
  ]) {
    registry.removeSingleMetric(name);
  }
  if (process.platform !== 'linux') return;
  new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    registers: [registry],
    async collect() {
      const fds = await readdir('/proc/self/fd').catch(() => undefined);
      // Less the descriptor of the listing itself, as prom-client's own collector does.
      if (fds) this.set(fds.length - 1);
    },
  });
}

/**
 * How often the `nodejs_eventloop_lag_*` histogram samples the loop. prom-client's 10 ms is a timer
 * that wakes the process a hundred times a second whatever it is doing: 1.3–1.4 % of a core for an
 * idle pod here, against 0.5–0.6 % at 100 ms, and every pod of a fleet pays it. A stall of 100 ms
 * or more is still always seen; a shorter one in proportion to its length.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * A count on the delivery path: a plain number, added to its Prometheus counter whenever the
 * counter is read (a scrape). prom-client's bound `labels(…).inc` hashes and checks its labels on
 * every call, and every pod counts every event of the fleet.
 */
function tally<L extends string>(counter: Counter<L>, labels: LabelValues<L>): Count {
  let pending = 0;
  const target = counter as unknown as { collect?: () => void };
  const collectBefore = target.collect;
  target.collect = () => {
    collectBefore?.();
    if (pending === 0) return;
    counter.inc(labels, pending);
    pending = 0;
  };
  return {
    inc: (by = 1) => {
      pending += by;
    },
  };
}
