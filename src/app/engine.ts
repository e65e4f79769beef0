import type { Redis } from 'ioredis';
import { hostname } from 'node:os';
import { RedisActivityStore } from '../adapters/redis/activity-store.js';
import { connectRedis } from '../adapters/redis/connection.js';
import { RedisKillSwitch } from '../adapters/redis/kill-switch.js';
import { RedisRouteRegistry } from '../adapters/redis/route-registry.js';
import { RedisSessionLocks } from '../adapters/redis/session-locks.js';
import { RedisTokenCache } from '../adapters/redis/token-cache.js';
import { NatsEventStream } from '../adapters/nats/nats-event-stream.js';
import { NatsSupervisor } from '../adapters/nats/supervisor.js';
import { GrpcForwarder } from '../adapters/grpc/forwarder.js';
import { MemoryEventStream } from '../adapters/memory/memory-event-stream.js';
import {
  MemoryActivityStore,
  MemoryKillSwitch,
  MemoryRouteRegistry,
  MemorySessionLocks,
  MemoryTokenCache,
} from '../adapters/memory/memory-store.js';
import type { ActivityStore, EventStream, Forwarder, KillSwitch, RouteRegistry, SessionLocks, TokenCache } from '../domain/ports.js';
import { Lease } from '../services/lease.js';
import type { Config } from './config/schema.js';
import { ConfigError } from './config/load.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

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
  forwarder: Forwarder | undefined;
  /** Starts consuming (after the sink is in place). */
  connectStream(): Promise<void>;
  dependencies(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export function engineKindOf(cfg: Config): EngineKind {
  const hasRedis = cfg.redis.address !== '';
  const hasNats = cfg.nats.url !== '';
  if (hasRedis !== hasNats) {
    throw new ConfigError([
      'redis.address and nats.url must both be set (cluster engine) or both be empty (embedded engine)',
    ]);
  }
  return hasRedis ? 'cluster' : 'embedded';
}

export function embeddedEngine(cfg: Config, onGiveUp: (seq: number) => void): Engine {
  return {
    kind: 'embedded',
    podId: cfg.server.pod_id || 'local',
    locks: new MemorySessionLocks(),
    routes: new MemoryRouteRegistry(),
    activity: new MemoryActivityStore(),
    tokenCache: new MemoryTokenCache(),
    killSwitch: new MemoryKillSwitch(),
    stream: new MemoryEventStream(cfg.nats.max_deliver, (e) => onGiveUp(e.seq)),
    forwarder: undefined,
    connectStream: async () => undefined,
    dependencies: async () => ({ nats: 'embedded', redis: 'embedded' }),
    close: async () => undefined,
  };
}

/** Connects Redis (failing fast, one line) and prepares NATS, gRPC forwarding and the lease. */
export async function clusterEngine(cfg: Config, metrics: Metrics, log: Logger, onGiveUp: (seq: number) => void): Promise<Engine> {
  const podId = cfg.server.pod_id || hostname();
  const redis = await connectRedis({
    address: cfg.redis.address,
    password: cfg.redis.password,
    db: cfg.redis.db,
    connectTimeoutMs: Math.max(1, cfg.nats.connect_timeout_seconds) * 1000,
  });
  const locks = new RedisSessionLocks(redis);
  const stream = new NatsEventStream(
    {
      streamName: cfg.nats.stream_name,
      consumerName: cfg.nats.consumer_name,
      createStream: cfg.nats.create_stream,
      ackWaitSeconds: cfg.app.nats_ack_wait_seconds,
      maxAckPending: cfg.app.nats_max_ack_pending,
      maxDeliver: cfg.nats.max_deliver,
    },
    {
      consuming: (durable) => log.info({ durable }, 'consuming shared consumer'),
      consumeStopped: (durable, err) => log.warn({ durable, err: (err as Error)?.message }, 'consumer stopped'),
      gaveUp: (event) => {
        metrics.eventsSettled.inc({ outcome: 'given_up' });
        log.error({ subject: event.subject, seq: event.seq, request_id: event.requestId }, 'event given up after max deliveries');
        onGiveUp(event.seq);
      },
      setupFailed: (err) => log.error({ err: (err as Error).message }, 'stream setup failed'),
    },
  );
  const supervisor = natsSupervisor(cfg, podId, stream, log);
  const lease = new Lease(locks, `dws_consumer_lease:${cfg.nats.stream_name}:${cfg.nats.consumer_name}`, podId, cfg.app.consumer_leader_ttl_seconds, {
    gained: () => {
      log.info('this pod now routes the shared stream consumers');
      stream.setLeading(true);
    },
    lost: () => {
      log.warn('this pod no longer routes the shared stream consumers');
      stream.setLeading(false);
    },
    error: (err) => log.warn({ err: (err as Error).message }, 'consumer lease renewal failed'),
    eligible: () => supervisor.status === 'connected',
  });
  const forwarder = new GrpcForwarder(
    {
      sourcePodId: podId,
      grpcPort: cfg.server.grpc_port,
      timeoutMs: cfg.app.grpc_client_forward_timeout_seconds * 1000,
      idleTimeoutMs: cfg.app.grpc_pool_idle_timeout_seconds * 1000,
      sweepIntervalMs: cfg.app.grpc_pool_health_check_interval_seconds * 1000,
      failThreshold: cfg.app.grpc_circuitbreaker_fail_threshold,
      openMs: cfg.app.grpc_circuitbreaker_open_duration_seconds * 1000,
    },
    metrics,
    {
      circuitTripped: (target) => log.warn({ target }, 'circuit opened for pod'),
      forwardFailed: (target, err) => log.warn({ target, err: (err as Error).message }, 'forward failed'),
    },
  );
  return {
    kind: 'cluster',
    podId,
    locks,
    routes: new RedisRouteRegistry(redis),
    activity: new RedisActivityStore(redis),
    tokenCache: new RedisTokenCache(redis),
    killSwitch: new RedisKillSwitch(redis, (channel) => log.warn({ channel }, 'malformed kill message ignored')),
    stream,
    forwarder,
    connectStream: async () => {
      await supervisor.start();
      lease.start();
    },
    dependencies: async () => ({ nats: supervisor.status === 'connected' ? 'connected' : 'disconnected', redis: await pingRedis(redis) }),
    close: async () => {
      await lease.stop();
      await stream.stop();
      await supervisor.stop();
      await forwarder.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

function natsSupervisor(cfg: Config, podId: string, stream: NatsEventStream, log: Logger): NatsSupervisor {
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
    { attach: (nc) => stream.attach(nc), reconnected: (nc) => stream.ensureResources(nc) },
    {
      connected: (server) => log.info({ server }, 'nats connected'),
      disconnected: () => log.warn('nats disconnected'),
      reconnected: (server) => log.info({ server }, 'nats reconnected'),
      redialFailed: (err) => log.warn({ err: (err as Error).message }, 'nats re-dial failed'),
      attachFailed: (err) => log.error({ err: (err as Error).message }, 'nats stream setup failed'),
    },
  );
}

async function pingRedis(redis: Redis): Promise<string> {
  try {
    await Promise.race([redis.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 1000))]);
    return 'connected';
  } catch {
    return 'disconnected';
  }
}
