import type { Redis } from 'ioredis';
import { hostname } from 'node:os';
import { RedisActivityStore } from '../adapters/redis/activity-store.js';
import { connectRedis } from '../adapters/redis/connection.js';
import { RedisKillSwitch } from '../adapters/redis/kill-switch.js';
import { RedisRouteRegistry } from '../adapters/redis/route-registry.js';
import { RedisSessionLocks } from '../adapters/redis/session-locks.js';
import { RedisTokenCache } from '../adapters/redis/token-cache.js';
import { NatsEventStream, type ReadMode } from '../adapters/nats/nats-event-stream.js';
import { NatsSupervisor } from '../adapters/nats/supervisor.js';
import { STALL_MS } from '../adapters/nats/stall.js';
import { MemoryActivityStore } from '../adapters/memory/activity-store.js';
import { MemoryEventStream } from '../adapters/memory/event-stream.js';
import { MemoryKillSwitch } from '../adapters/memory/kill-switch.js';
import { MemoryRouteRegistry } from '../adapters/memory/route-registry.js';
import { MemorySessionLocks } from '../adapters/memory/session-locks.js';
import { MemoryTokenCache } from '../adapters/memory/token-cache.js';
import type {
  ActivityStore,
  BlockStore,
  OperatorBus,
  PodDirectory,
  EventStream,
  KillSwitch,
  RouteRegistry,
  SessionLocks,
  TokenCache,
} from '../domain/ports.js';
import type { Config } from '../platform/config/schema.js';
import { MemoryBlockStore, MemoryOperatorBus, MemoryPodDirectory } from '../adapters/memory/operator.js';
import { RedisBlockStore, RedisPodDirectory } from '../adapters/redis/operator.js';
import { NatsOperatorBus } from '../adapters/nats/operator-bus.js';
import { ConfigError } from '../domain/errors.js';
import type { Logger } from '../domain/ports.js';

export type EngineKind = 'embedded' | 'cluster';

/** The ports of one engine, and how to start, probe and stop what is behind them. */
export interface Engine {
  kind: EngineKind;
  podId: string;
  locks: SessionLocks;
  routes: RouteRegistry;
  activity: ActivityStore;
  tokenCache: TokenCache;
  killSwitch: KillSwitch;
  stream: EventStream;
  /** The operator API's line to every pod, who is alive, and the operators' blocks. */
  operatorBus: OperatorBus;
  pods: PodDirectory;
  blocks: BlockStore;
  /**
   * `listener` runs whenever the session store is back after losing its connection (a Redis restart,
   * a Sentinel failover): locks written just before may be gone, and are asserted again at once.
   */
  storeReconnected(listener: () => void): void;
  /** Starts consuming (after the sink is in place). */
  connectStream(): Promise<void>;
  dependencies(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export function engineKindOf(cfg: Config): EngineKind {
  const sentinels = cfg.redis.sentinel_addresses.length > 0;
  if (sentinels !== (cfg.redis.sentinel_master_name !== ''))
    throw new ConfigError(['redis.sentinel_addresses and redis.sentinel_master_name go together: set both or neither']);
  const hasRedis = cfg.redis.address !== '' || sentinels;
  const hasNats = cfg.nats.url !== '';
  if (hasRedis !== hasNats) {
    throw new ConfigError([
      'redis (redis.address or redis.sentinel_addresses) and nats.url must both be set (cluster engine) or both ' +
        'be empty (embedded engine)',
    ]);
  }
  return hasRedis ? 'cluster' : 'embedded';
}

export function embeddedEngine(cfg: Config): Engine {
  return {
    kind: 'embedded',
    podId: cfg.server.pod_id || 'local',
    locks: new MemorySessionLocks(),
    routes: new MemoryRouteRegistry(),
    activity: new MemoryActivityStore(),
    tokenCache: new MemoryTokenCache(),
    killSwitch: new MemoryKillSwitch(),
    stream: new MemoryEventStream(),
    operatorBus: new MemoryOperatorBus(),
    pods: new MemoryPodDirectory(),
    blocks: new MemoryBlockStore(),
    storeReconnected: () => undefined, // nothing to lose
    connectStream: async () => undefined,
    dependencies: async () => ({ nats: 'embedded', redis: 'embedded' }),
    close: async () => undefined,
  };
}

/**
 * How long a pod waits for Redis at start before it exits with one line saying so. The Go service's
 * configuration has no Redis timeout of its own; 5 s, as its NATS connect timeout defaults to.
 */
const REDIS_CONNECT_TIMEOUT_MS = 5000;

/** How often a pod's reader hears from the server when the stream is quiet (gap detection). */
const READER_HEARTBEAT_MS = 1000;
/** How long the server keeps the consumer of a pod that went away without a word (SIGKILL). */
const READER_INACTIVE_MS = 10_000;

export interface ClusterHooks {
  readerReset(): void;
}

/** Connects Redis (failing fast, one line) and prepares the pod's reading of the stream. */
export async function clusterEngine(cfg: Config, log: Logger, hooks: ClusterHooks): Promise<Engine> {
  const podId = cfg.server.pod_id || hostname();
  const redis = await connectRedis({
    address: cfg.redis.address,
    sentinels: cfg.redis.sentinel_addresses,
    masterName: cfg.redis.sentinel_master_name,
    password: cfg.redis.password,
    db: cfg.redis.db,
    connectTimeoutMs: REDIS_CONNECT_TIMEOUT_MS,
  });
  const stream = new NatsEventStream(
    {
      streamName: cfg.nats.stream_name,
      createStream: cfg.nats.create_stream,
      replicas: cfg.nats.stream_replicas,
      podId,
      readMode: cfg.nats.read_mode as ReadMode,
      republishPrefix: cfg.nats.republish_prefix,
      lingerMs: cfg.nats.interest_linger_seconds * 1000,
      heartbeatMs: READER_HEARTBEAT_MS,
      inactiveMs: READER_INACTIVE_MS,
      ownConnection: cfg.nats.reader_own_connection,
    },
    {
      reading: (epoch, position, mode) => log.info({ epoch, position, read_mode: mode }, 'reading the stream'),
      readingWholeStream: (why) =>
        log.warn({ why }, 'nats.read_mode is interest, but the stream does not republish: reading all of wa.>'),
      republishAdded: () => log.info({ prefix: cfg.nats.republish_prefix }, 'the stream republishes what it stores'),
      readerReset: (reason) => {
        hooks.readerReset();
        log.info({ reason }, 'stream reader starts over from its position');
      },
      epochChanged: (epoch) => log.warn({ epoch }, 'the stream was recreated; sequences restart'),
      readerFailed: (err) => log.warn({ err }, 'stream reader could not start over; retrying'),
    },
  );
  const operatorBus = new NatsOperatorBus();
  const supervisor = natsSupervisor(cfg, podId, stream, operatorBus, log);
  // Either Redis connection back after a loss (a restart, a failover): locks written just before may
  // be gone, and kill messages sent meanwhile never came.
  const reconnected = new Set<() => void>();
  const storeBack = () => {
    for (const listener of reconnected) listener();
  };
  redis.on('ready', storeBack);
  return {
    kind: 'cluster',
    podId,
    locks: new RedisSessionLocks(redis),
    routes: new RedisRouteRegistry(redis),
    activity: new RedisActivityStore(redis),
    tokenCache: new RedisTokenCache(redis),
    killSwitch: new RedisKillSwitch(
      redis,
      (channel) => log.warn({ channel }, 'malformed kill message ignored'),
      storeBack,
    ),
    stream,
    operatorBus,
    pods: new RedisPodDirectory(redis, cfg.nats.stream_name),
    blocks: new RedisBlockStore(redis),
    // 'ready' comes after every reconnection (the first one happened in connectRedis).
    storeReconnected: (listener) => reconnected.add(listener),
    connectStream: () => supervisor.start(),
    dependencies: async () => ({ nats: natsState(supervisor, stream), redis: await pingRedis(redis) }),
    close: async () => {
      await stream.stop();
      await supervisor.stop();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

function natsSupervisor(
  cfg: Config,
  podId: string,
  stream: NatsEventStream,
  bus: NatsOperatorBus,
  log: Logger,
): NatsSupervisor {
  const n = cfg.nats;
  return new NatsSupervisor(
    {
      url: n.url,
      name: `${cfg.app.service_name}-consumer-${podId}`,
      connectTimeoutSeconds: n.connect_timeout_seconds,
      reconnectWaitSeconds: n.reconnect_wait_seconds,
      maxReconnects: n.max_reconnects,
      pingIntervalSeconds: n.ping_interval_seconds,
      maxPingsOut: n.max_pings_out,
      retryOnFailedConnect: n.retry_on_failed_connect,
    },
    {
      attach: (nc) => {
        bus.attach(nc);
        return stream.attach(nc);
      },
      reconnected: async (nc) => void (await stream.ensureResources(nc)),
    },
    {
      connected: (server) => log.info({ server }, 'nats connected'),
      disconnected: () => log.warn('nats disconnected'),
      reconnected: (server) => log.info({ server }, 'nats reconnected'),
      stalled: (server) => log.warn({ server, after_ms: STALL_MS }, 'nats server does not answer; moving to another'),
      redialFailed: (err) => log.warn({ err }, 'nats re-dial failed'),
      attachFailed: (err) => log.error({ err }, 'nats stream setup failed'),
    },
  );
}

/** `not_reading`: connected, but this pod's reader cannot read the stream (it delivers nothing). */
function natsState(supervisor: NatsSupervisor, stream: NatsEventStream): string {
  if (supervisor.status !== 'connected') return 'disconnected';
  return stream.reading() ? 'connected' : 'not_reading';
}

async function pingRedis(redis: Redis): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), 1000);
      }),
    ]);
    return 'connected';
  } catch {
    return 'disconnected';
  } finally {
    clearTimeout(timer); // /ready is polled: no timer left behind per call
  }
}
