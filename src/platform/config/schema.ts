import type { TableMapping } from '../../domain/cdc-tables.js';

/**
 * Every configuration key, its type, default and constraints, in one table: the loader, the
 * env-override names, validation and the README's configuration reference all derive from it.
 * Sections and keys are the Go service's (docs/protocol.md, *Configuration*); keys beyond the Go service are marked
 * `extra`.
 */
export type KeyType =
  | { kind: 'int'; min?: number; max?: number }
  | { kind: 'string' }
  /** NATS server URLs, comma-separated (`nats://a:4222,nats://b:4222`); kept as written. */
  | { kind: 'servers' }
  | { kind: 'secret' }
  | { kind: 'aesKey' }
  | { kind: 'bool' }
  | { kind: 'enum'; values: readonly string[] }
  /** A YAML list, or a comma-separated environment variable. */
  | { kind: 'list'; item: 'secret' | 'aesKey' | 'address' | 'origin' | 'hostPort' }
  /** The CDC bridge's table mapping: a YAML mapping, or its JSON in the environment (domain/cdc-tables.ts). */
  | { kind: 'tables' };

export interface KeySpec {
  type: KeyType;
  default: string | number | boolean;
  doc: string;
  extra?: true;
  /** The default when NODE_ENV=production, when it differs. */
  productionDefault?: boolean;
  /** Read at start only: a reload that changes it logs that a restart is needed. */
  restart?: true;
}

type Spec<K extends KeyType['kind']> = KeySpec & { type: Extract<KeyType, { kind: K }> };

const int = (def: number, doc: string, min = 0, max?: number): Spec<'int'> => ({
  type: { kind: 'int', min, ...(max !== undefined ? { max } : {}) },
  default: def,
  doc,
});
const str = (def: string, doc: string): Spec<'string'> => ({ type: { kind: 'string' }, default: def, doc });
const bool = (def: boolean, doc: string): Spec<'bool'> => ({ type: { kind: 'bool' }, default: def, doc });
const secret = (doc: string): Spec<'secret'> => ({ type: { kind: 'secret' }, default: '', doc });
const aesKey = (doc: string): Spec<'aesKey'> => ({ type: { kind: 'aesKey' }, default: '', doc });
const oneOf = (values: readonly string[], def: string, doc: string): Spec<'enum'> => ({
  type: { kind: 'enum', values },
  default: def,
  doc,
});
const list = (
  item: 'secret' | 'aesKey' | 'address' | 'origin' | 'hostPort',
  doc: string,
): KeySpec & { type: { kind: 'list' } } => ({
  type: { kind: 'list', item },
  default: '',
  doc,
});
/** On in development, off when NODE_ENV=production. */
const devOnly = (doc: string): Spec<'bool'> => ({
  ...bool(true, `${doc} (default: true in development, false when NODE_ENV=production)`),
  productionDefault: false,
});
const extra = <S extends KeySpec>(spec: S): S => ({ ...spec, extra: true });
const restart = <S extends KeySpec>(spec: S): S => ({ ...spec, restart: true });

function adaptive(enabled: boolean, min: number, max: number, threshold: number, active: number, inactive: number) {
  return {
    enabled: bool(enabled, 'use the adaptive TTL for these keys'),
    min_ttl_seconds: int(min, 'lower clamp of the TTL'),
    max_ttl_seconds: int(max, 'upper clamp of the TTL; also the TTL of the `:last_active` keys', 1),
    activity_threshold_seconds: int(threshold, 'activity younger than this counts as active'),
    active_ttl_seconds: int(active, 'TTL while active'),
    inactive_ttl_seconds: int(inactive, 'TTL while inactive'),
  };
}

export const schema = {
  server: {
    http_port: restart(int(8080, 'HTTP and WebSocket port')),
    grpc_port: restart(
      int(50051, 'gRPC port (PushEvent, health, reflection); pods reach each other at `<pod_id>:<grpc_port>`'),
    ),
    pod_id: restart(str('', 'this pod\'s id and gRPC address; empty: the host name (embedded mode: "local")')),
    enable_reflection: restart(bool(false, 'register gRPC server reflection')),
    host: extra(restart(str('', 'address the HTTP and gRPC servers bind to; empty: all interfaces'))),
    grpc_listener: extra(
      restart(
        oneOf(
          ['auto', 'on', 'off'],
          'auto',
          'start the gRPC server (PushEvent from Go replicas); auto: in the cluster engine only',
        ),
      ),
    ),
    max_connections: extra(
      int(
        0,
        'WebSocket sessions this pod accepts; more: 503 ServiceUnavailable (0: what the process can hold — its ' +
          'open-file limit less a reserve, see SECURITY.md)',
      ),
    ),
    max_pending_connections_per_ip: extra(
      int(
        256,
        'TCP connections from one address that have been idle for a second or more (no request in progress, not a ' +
          'session); the oldest beyond it are closed (0: no limit; not applied with trust_proxy, where every ' +
          'connection comes from the proxy)',
      ),
    ),
    handshake_rate_per_ip: extra(
      int(
        0,
        'WebSocket upgrades per second per client address, burst twice that; more: 429 RateLimitExceeded (0: no limit)',
      ),
    ),
    allowed_origins: extra(
      list(
        'origin',
        "pages on other origins that may open a WebSocket, beside those on the gateway's own host: exact origins " +
          '(https://crm.example.com) or patterns (*.example.com, https://*.example.com)',
      ),
    ),
    trust_proxy: extra(
      bool(false, 'take the client address from the first X-Forwarded-For entry (only behind a proxy that sets it)'),
    ),
  },
  grpc: {
    allowed_peers: extra(
      list(
        'address',
        'addresses or CIDRs whose PushEvent is accepted; empty: loopback and the pod ids found in route sets',
      ),
    ),
  },
  nats: {
    url: restart({
      type: { kind: 'servers' },
      default: '',
      doc:
        'NATS server URL, or several comma-separated (a JetStream cluster: the client picks one and moves to ' +
        'another when it goes away); empty together with redis.address: embedded single-node engine',
    }),
    stream_name: restart(str('wa_stream', 'JetStream stream holding `wa.>`')),
    stream_replicas: extra(
      restart(
        int(
          1,
          'replicas of a stream the pod or the CDC bridge creates (3 on a three-server JetStream cluster: the ' +
            'stream survives the loss of any one server; docs/deploy.md)',
          1,
          5,
        ),
      ),
    ),
    consumer_name: str(
      'ws_fanout',
      'unused: pods read with ephemeral ordered consumers (the Go service: prefix of its durable names)',
    ),
    connect_timeout_seconds: restart(int(5, 'connect timeout')),
    reconnect_wait_seconds: restart(int(2, 'wait between reconnect attempts')),
    max_reconnects: restart(int(5, 'reconnect attempts before the client re-dials from scratch; -1: unlimited', -1)),
    ping_interval_seconds: restart(int(120, 'client ping interval')),
    max_pings_out: restart(int(2, 'unanswered pings before the connection is considered stale')),
    retry_on_failed_connect: restart(bool(true, 'keep retrying the first connection for connect_timeout_seconds')),
    read_mode: extra(
      restart(
        oneOf(
          ['interest', 'stream'],
          'interest',
          "interest: receive only the subjects this pod's sessions want (the stream republishes to <republish_prefix>.wa.>; a stream without it is read whole); stream: read all of wa.>",
        ),
      ),
    ),
    republish_prefix: extra(
      restart(str('dws', 'prefix of the subjects the stream republishes its events to, for interest reading')),
    ),
    interest_linger_seconds: extra(
      restart(int(30, 'how long a pod keeps a subscription after its last session of it left (a reconnect finds it)')),
    ),
    create_stream: extra(restart(bool(true, 'create the stream with subjects `wa.>` at start when it does not exist'))),
    reader_own_connection: extra(
      restart(
        bool(
          true,
          "read the stream (or the interest's subscriptions) on a second, plain NATS connection of the pod's own " +
            '(a few µs an event instead of the ' +
            "client library's 10–20); false: one connection for everything",
        ),
      ),
    ),
  },
  redis: {
    address: restart(str('', 'host:port; empty together with nats.url: embedded single-node engine')),
    sentinel_addresses: extra(
      restart(
        list(
          'hostPort',
          'Redis Sentinel addresses (host:port, comma-separated in the environment): pods ask them for the master ' +
            'and follow it through a failover; used instead of redis.address (docs/deploy.md)',
        ),
      ),
    ),
    sentinel_master_name: extra(
      restart(
        str('', 'the master the sentinels watch (their `sentinel monitor <name>`); needed with sentinel_addresses'),
      ),
    ),
    password: restart(secret('password')),
    db: restart(int(0, 'database number')),
    websocket_compression_mode: str('', 'unused (the Go service reads app.websocket_compression_mode)'),
    websocket_compression_threshold: int(0, 'unused'),
    websocket_development_insecure_skip_verify: bool(false, 'unused'),
  },
  cdc: {
    enabled: extra(
      restart(
        bool(
          false,
          'run the CDC bridge (Postgres slot to the wa.* stream) inside this pod; `daisi-ws cdc` runs it alone',
        ),
      ),
    ),
    postgres_url: extra(
      restart(
        str('', 'the database to read (postgres://user:password@host:port/db); the bridge needs REPLICATION rights'),
      ),
    ),
    slot_name: extra(restart(str('daisi_slot', 'the logical replication slot (pgoutput) the bridge reads'))),
    publication_name: extra(restart(str('daisi_pub', 'the publication the slot reads'))),
    create_slot: extra(
      restart(
        bool(
          true,
          'create the publication (FOR ALL TABLES, publish_via_partition_root) and the slot when missing, as the ' +
            "seed's deploy/setup.sql does",
        ),
      ),
    ),
    schema_prefix: extra(restart(str('daisi_', 'company schemas are <prefix><company_id>; others are not published'))),
    tables: extra(
      restart<KeySpec & { type: { kind: 'tables' } }>({
        type: { kind: 'tables' },
        default: '',
        doc:
          "tables to publish beyond or instead of the seed's chats, messages and agents: `<table>: {subject, " +
          'agent_column, chat_column, message_column}` (subject: chats, messages or agents; columns default to ' +
          'agent_id, chat_id, message_id), or `<table>: false` to leave one out; JSON in the environment ' +
          '(docs/protocol.md, *Row changes*)',
      }),
    ),
    max_lag_bytes: extra(
      int(256 * 1024 * 1024, "beyond this much WAL not yet confirmed, the bridge's /ready says `cdc: lagging`"),
    ),
    publish_window: extra(int(256, 'changes sent to JetStream and not yet acknowledged, at most', 1)),
    checkpoint_stream: extra(
      restart(str('DWS_CDC', 'the stream where the bridge keeps its checkpoint (one message per slot)')),
    ),
  },
  log: {
    level: oneOf(['debug', 'info', 'warn', 'error'], 'info', 'log level'),
  },
  auth: {
    secret_token: secret('client API key (`X-API-Key` / `x-api-key`) for /ws and /generate-token'),
    token_aes_key: aesKey('64 hex chars: AES-256 key of company tokens'),
    admin_secret_token: secret('admin API key for /admin/generate-token and /api/publish'),
    token_cache_ttl_seconds: int(30, 'Redis cache TTL of validated company tokens', 1),
    admin_token_aes_key: aesKey('64 hex chars: AES-256 key of admin tokens'),
    admin_token_cache_ttl_seconds: int(60, 'Redis cache TTL of validated admin tokens', 1),
    token_generation_secret: extra(
      secret('when set, /generate-token requires this key instead of the browser-visible client key'),
    ),
    allow_client_key_minting: extra(
      bool(
        false,
        'with NODE_ENV=production and no token_generation_secret, let the client key mint tokens (the Go behaviour)',
      ),
    ),
    max_token_ttl_seconds: extra(
      int(2592000, 'longest expires_in_seconds /generate-token and /admin/generate-token accept', 1),
    ),
    max_failures_per_ip_per_minute: extra(
      int(
        60,
        'failed authentications (bad key or token, any endpoint) from one address in a minute; past it, further ' +
          'failures from it get 429 until the minute is over, valid credentials still pass (0: no limit)',
      ),
    ),
    previous_secret_tokens: extra(list('secret', 'client API keys still accepted during a rotation')),
    previous_admin_secret_tokens: extra(list('secret', 'admin API keys still accepted during a rotation')),
    previous_token_aes_keys: extra(
      list('aesKey', 'company token keys still accepted when opening tokens (rotation); minting uses token_aes_key'),
    ),
    previous_admin_token_aes_keys: extra(
      list('aesKey', 'admin token keys still accepted when opening tokens (rotation)'),
    ),
  },
  app: {
    service_name: restart(str('daisi-ws-service', 'service name in logs')),
    version: restart(str('1.0.0', 'version in logs (`version` of every line)')),
    ping_interval_seconds: int(20, 'server ping interval; 0 disables pings'),
    shutdown_timeout_seconds: int(30, 'graceful shutdown budget'),
    pong_wait_seconds: int(60, 'close a connection silent for this long'),
    write_timeout_seconds: int(30, 'close a connection whose frame is not written within this'),
    max_missed_pongs: int(2, 'close a connection when more than this many pings in a row went unanswered; 0 disables'),
    session_ttl_seconds: int(30, 'TTL of session locks', 1),
    route_ttl_seconds: int(60, 'TTL of route sets', 1),
    ttl_refresh_interval_seconds: int(10, 'renewal loop interval', 1),
    nats_max_ack_pending: int(
      5000,
      "unused (the Go service's per-connection consumers); pods read with ordered consumers that need no acks",
      1,
    ),
    session_lock_retry_delay_ms: int(
      250,
      'first retry delay of SET NX after a kill message (doubles; every delay at most 500 ms)',
      1,
    ),
    nats_ack_wait_seconds: int(30, 'unused (no acknowledgements; see nats_max_ack_pending)', 1),
    grpc_client_forward_timeout_seconds: int(
      5,
      'unused: daisi-ws pods forward nothing (docs/architecture.md, ' + '*How an event travels*)',
      1,
    ),
    read_timeout_seconds: int(10, 'HTTP request read timeout'),
    idle_timeout_seconds: int(60, 'HTTP keep-alive idle timeout'),
    websocket_compression_mode: restart(
      oneOf(
        ['disabled', 'context_takeover', 'no_context_takeover'],
        'disabled',
        'permessage-deflate (negotiated per connection at its upgrade)',
      ),
    ),
    websocket_compression_threshold: restart(int(1024, 'compress frames from this size')),
    websocket_development_insecure_skip_verify: bool(false, 'accept any Origin (development)'),
    grpc_pool_idle_timeout_seconds: int(
      300,
      'unused: daisi-ws pods forward nothing (docs/architecture.md, *How ' + 'an event travels*)',
    ),
    grpc_pool_health_check_interval_seconds: int(60, 'unused: daisi-ws pods forward nothing', 1),
    grpc_circuitbreaker_fail_threshold: int(5, 'unused: daisi-ws pods forward nothing', 1),
    grpc_circuitbreaker_open_duration_seconds: int(30, 'unused: daisi-ws pods forward nothing'),
    websocket_message_buffer_size: int(100, 'send queue per connection, frames', 1),
    websocket_max_queued_bytes: extra(
      int(
        4 * 1024 * 1024,
        'send queue per connection, bytes: beyond it the backpressure policy applies as for a full queue',
        1024,
      ),
    ),
    handshake_timeout_seconds: extra(
      int(5, 'longest a WebSocket upgrade waits for Redis (session lock, token cache); then 503 ServiceUnavailable', 1),
    ),
    websocket_backpressure_drop_policy: oneOf(
      ['drop_oldest', 'block'],
      'drop_oldest',
      'what a full send queue does: drop_oldest drops its oldest frames; block drops nothing — the session stops ' +
        'taking live frames and catches up from the history as its socket drains',
    ),
    websocket_slow_client_latency_ms: int(5000, 'a frame queued longer than this marks the client slow (logged once)'),
    websocket_slow_client_disconnect_threshold_ms: int(
      30000,
      'close a client whose oldest queued frame is older than this',
    ),
    max_message_size_bytes: extra(restart(int(65536, 'largest inbound frame; larger closes with 1009', 1))),
    max_client_frames_per_second: extra(
      int(50, 'inbound frames per second before RateLimitExceeded; twice that closes with 4429', 1),
    ),
    metrics_session_labels: extra(
      restart(bool(false, 'label per-connection metrics with the session key (unbounded cardinality)')),
    ),
    resume_max_events: extra(
      int(
        50000,
        'recent events each pod keeps in memory to answer resumes without NATS; 0: every resume reads the stream',
      ),
    ),
    resume_max_age_seconds: extra(int(300, 'oldest event kept in that memory')),
    resume_max_bytes: extra(
      int(
        64 * 1024 * 1024,
        'payload bytes that memory holds at most, large events included (the oldest go first; an event larger ' +
          'than this is not kept)',
        1,
      ),
    ),
    resume_max_replay_events: extra(
      int(
        10000,
        'the most events one replay (resume, select_chat with since) reads; a since further behind gets ' +
          'ResumeUnavailable at once',
        1,
      ),
    ),
    resume_max_replays_per_minute: extra(
      int(
        20,
        'select_chat with since per session and minute; more get RateLimitExceeded (the chat is selected live)',
        1,
      ),
    ),
    enable_publish_api: extra(devOnly('serve POST /api/publish')),
    enable_demo_page: extra(devOnly('serve the demo page at /')),
    enable_admin_page: extra(
      devOnly("serve the operator's page at /admin (its API, /api/sessions and /api/disconnect, is always there)"),
    ),
  },
  adaptive_ttl: {
    session_lock: adaptive(false, 15, 30, 120, 30, 15),
    message_route: adaptive(true, 300, 900, 600, 900, 300),
    chat_route: adaptive(false, 1800, 7200, 3600, 3600, 1800),
  },
};

type ValueOf<S> = S extends { type: { kind: 'int' } }
  ? number
  : S extends { type: { kind: 'bool' } }
    ? boolean
    : S extends { type: { kind: 'list' } }
      ? readonly string[]
      : S extends { type: { kind: 'tables' } }
        ? Readonly<Record<string, TableMapping>>
        : string;
type ConfigOf<T> = { readonly [K in keyof T]: T[K] extends KeySpec ? ValueOf<T[K]> : ConfigOf<T[K]> };

export type Config = ConfigOf<typeof schema>;

export function isKeySpec(value: unknown): value is KeySpec {
  return typeof value === 'object' && value !== null && 'type' in value && 'default' in value;
}

/** Every key as [dotted path, spec], in schema order. */
export function allKeys(node: object = schema, prefix: string[] = []): Array<[string[], KeySpec]> {
  const out: Array<[string[], KeySpec]> = [];
  for (const [name, child] of Object.entries(node)) {
    if (isKeySpec(child)) out.push([[...prefix, name], child]);
    else out.push(...allKeys(child as object, [...prefix, name]));
  }
  return out;
}

export function envNameOf(path: string[]): string {
  return `DAISI_WS_${path.join('_').toUpperCase()}`;
}
