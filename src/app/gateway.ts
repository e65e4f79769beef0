import { CloseCodes } from '../domain/close-codes.js';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkGrpcHealth, startGrpcServer, type GrpcServer } from '../transports/grpc/grpc-server.js';
import { ErrorCodes, GatewayError } from '../domain/errors.js';
import type { Session } from '../services/session.js';
import { AuthService } from '../services/auth-service.js';
import { EventDispatcher } from '../services/event-dispatcher.js';
import { EventHistory, type HistoryLimits } from '../services/event-history.js';
import { RenewalLoop } from '../services/renewal-loop.js';
import { ResumeService } from '../services/resume.js';
import { SessionManager } from '../services/session-manager.js';
import { SessionRegistry } from '../services/session-registry.js';
import { TokenMinter } from '../services/token-minter.js';
import { AbuseLimits } from '../services/abuse-limits.js';
import { Admission } from '../services/admission.js';
import { PushPeers } from '../services/push-peers.js';
import { OperatorService } from '../services/operator.js';
import { applyLimits, createHttpServer } from '../transports/http/http-server.js';
import { type Readiness, readinessOf } from '../transports/http/readiness.js';
import { WsEndpoint } from '../transports/ws/ws-endpoint.js';
import type { ConfigStore } from '../platform/config/store.js';
import type { Config } from '../platform/config/schema.js';
import { clusterEngine, embeddedEngine, engineKindOf, type Engine } from './engine.js';
import type { Logger } from '../domain/ports.js';
import { Metrics } from '../platform/metrics.js';
import { RefusalLog } from '../platform/refusal-log.js';
import { connectionBudget, openFileLimit } from '../platform/process-limits.js';
import { staticFiles } from './static-files.js';
import { systemClock } from '../domain/clock.js';

export interface Gateway {
  readonly engine: Engine;
  readonly metrics: Metrics;
  readonly registry: SessionRegistry;
  readonly dispatcher: EventDispatcher;
  httpPort(): number;
  /** 0 when no gRPC server runs (server.grpc_listener). */
  grpcPort(): number;
  /** Graceful shutdown (docs/compat.md #12): sessions get the error frame and close 1001. */
  stop(): Promise<void>;
}

/**
 * The composition root: takes the engine's adapters (engine.ts: embedded or cluster) and wires
 * services and transports to them. Nothing below app/ knows which engine it runs on.
 */
/**
 * `more`: what else the pod runs that /ready reports (the CDC bridge with cdc.enabled: its state, ready
 * when `active` or `standby`).
 */
export async function createGateway(
  store: ConfigStore,
  log: Logger,
  more: () => Record<string, string> = () => ({}),
): Promise<Gateway> {
  const cfg = store.get();
  // The one clock of the pod: every module that keeps time reads it (tests give theirs their own).
  const clock = systemClock;
  const config = () => store.get();
  const kind = engineKindOf(cfg);
  const metrics = new Metrics(cfg.app.metrics_session_labels);
  // Built in dependency order: what the stream's reading delivers to exists before the engine does.
  const registry = new SessionRegistry();
  const history = new EventHistory(historyLimits(cfg), clock);
  const dispatcher = new EventDispatcher({ registry, history, metrics: metrics.deliveryHooks(), log, now: clock });
  metrics.observeHistory(history);
  const engine =
    kind === 'cluster'
      ? await clusterEngine(cfg, log, { readerReset: () => metrics.readerResets.inc() })
      : embeddedEngine(cfg);
  const podId = engine.podId;
  registry.tellInterest(engine.stream);
  const sessions = new SessionManager({
    podId,
    config,
    locks: engine.locks,
    killSwitch: engine.killSwitch,
    routes: engine.routes,
    registry,
    metrics: metrics.sessionHooks(),
    log,
  });
  const renewal = new RenewalLoop({
    now: clock,
    podId,
    config,
    locks: engine.locks,
    routes: engine.routes,
    activity: engine.activity,
    registry,
    metrics: metrics.renewalHooks(),
    log,
  });
  // A failover can lose locks written just before it (Redis replicates asynchronously): this pod's are
  // asserted again at once rather than at the next tick — a session whose user moved meanwhile ends.
  engine.storeReconnected(() => {
    log.info({ sessions: registry.size }, 'redis connection back; asserting session locks again');
    void renewal.renewNow();
  });
  const touch = (s: Session) => void renewal.touchNow(s);
  const resume = new ResumeService({
    now: clock,
    stream: engine.stream,
    metrics: metrics.resumeHooks(),
    history,
    position: () => dispatcher.position,
    config,
    log,
  });
  const operator = new OperatorService({
    podId,
    registry,
    bus: engine.operatorBus,
    directory: engine.pods,
    blocks: engine.blocks,
    killSwitch: engine.killSwitch,
    counts: () => dispatcher.counts,
    log,
    now: clock,
  });
  const limits = new AbuseLimits(config);
  const refusals = new RefusalLog(log, metrics);
  const fileLimit = openFileLimit();
  const budget = () => connectionBudget(config().server.max_connections, fileLimit);
  // The endpoint's sessions are counted by its connection set, which exists once the endpoint does.
  const openSessions = () => ws.connections.size;
  const admission = new Admission({
    clock,
    config,
    auth: new AuthService(config, engine.tokenCache, log),
    limits,
    sessions,
    stream: engine.stream,
    hooks: metrics.authHooks(),
    sessionLimit: () => budget().sessions,
    openSessions,
    blockOf: (identity) => operator.blockOf(identity),
  });
  const ws = new WsEndpoint({ clock, config, admission, sessions, metrics, log, touch, resume, refusals });

  // Embedded mode has no Go replicas to push to it: no gRPC port is opened unless asked for.
  const listener = cfg.server.grpc_listener;
  const peers = new PushPeers(config, engine.routes);
  const grpc =
    listener === 'on' || (listener === 'auto' && kind === 'cluster')
      ? await startGrpcServer({
          host: cfg.server.host,
          port: cfg.server.grpc_port,
          reflection: cfg.server.enable_reflection,
          allowsPeer: (address) => peers.allows(address),
          onRefused: (address) => refusals.refused('grpc', ErrorCodes.Forbidden, address, { method: 'PushEvent' }),
          deliver: (address, eventId, payloadJson) => dispatcher.acceptPushed(address, eventId, payloadJson),
          metrics,
        })
      : undefined;
  const readiness = readinessProbe(engine, cfg.server.host, grpc, more);
  const http = createHttpServer({
    config,
    minter: new TokenMinter(config),
    metrics,
    log,
    ws,
    limits,
    refusals,
    production: store.production,
    readiness,
    publish: (subject, payload, requestId) => engine.stream.publish(subject, Buffer.from(payload), requestId),
    staticFile: staticFiles(),
    budget,
    operator,
  });
  await listen(http, cfg.server.host, cfg.server.http_port);
  await sessions.listenForKills();
  await engine.stream.start(dispatcher);
  await engine.connectStream();
  // Blocks read before the first upgrade: a blocked identity is refused from the pod's first session on.
  await operator.start();
  ws.startAccepting();
  renewal.start();
  const clearing = setTimeout(
    () => {
      sessions.clearStaleRoutes().then(
        (cleared) => cleared > 0 && log.info({ cleared }, 'route entries of a previous run under this pod id removed'),
        (err: unknown) => log.warn({ err }, 'route clean-up failed'),
      );
    },
    cfg.app.ttl_refresh_interval_seconds * 1000 + STALE_ROUTE_GRACE_MS,
  );
  clearing.unref();
  store.onChange((next, previous) => {
    if (next.log.level !== previous.log.level) log.level = next.log.level;
    history.resize(historyLimits(next));
    applyLimits(http, next);
    if (next.app.ttl_refresh_interval_seconds !== previous.app.ttl_refresh_interval_seconds) renewal.reschedule();
  });
  store.onReload((_source, result) => metrics.configReloads.inc({ result: result.ok ? 'ok' : 'failed' }));
  log.info(
    {
      engine: kind,
      pod_id: podId,
      http_port: portOf(http),
      grpc_port: grpc?.port ?? null,
      consumers: engine.stream.consumerCount(),
      max_sessions: budget().sessions || null,
    },
    'gateway started',
  );

  let stopping: Promise<void> | undefined;
  return {
    engine,
    metrics,
    registry,
    dispatcher,
    httpPort: () => portOf(http),
    grpcPort: () => grpc?.port ?? 0,
    stop: () =>
      (stopping ??= shutdown({
        http,
        ws,
        grpc,
        engine,
        renewal,
        operator,
        sessions: registry,
        log,
        timeoutMs: config().app.shutdown_timeout_seconds * 1000,
      }).finally(() => limits.close())),
  };
}

/** After a renewal interval and this, the sessions that came back after a restart have written their routes. */
const STALE_ROUTE_GRACE_MS = 2000;

function historyLimits(cfg: Config): HistoryLimits {
  const app = cfg.app;
  return {
    maxEvents: app.resume_max_events,
    maxAgeMs: app.resume_max_age_seconds * 1000,
    maxBytes: app.resume_max_bytes,
  };
}

function readinessProbe(
  engine: Engine,
  host: string,
  grpc: GrpcServer | undefined,
  more: () => Record<string, string>,
): () => Promise<Readiness> {
  const target = `${!host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${grpc?.port}`;
  return async () => {
    const dependencies = await engine.dependencies();
    if (grpc)
      dependencies.grpc = await checkGrpcHealth(target, 1000).then(
        (status) => (status === 'SERVING' ? 'serving' : 'not_serving'),
        () => 'health_check_error',
      );
    return readinessOf(Object.assign(dependencies, more()));
  };
}

interface ShutdownParts {
  http: Server;
  ws: WsEndpoint;
  grpc: GrpcServer | undefined;
  engine: Engine;
  renewal: RenewalLoop;
  operator: OperatorService;
  sessions: SessionRegistry;
  log: Logger;
  timeoutMs: number;
}

async function shutdown(p: ShutdownParts): Promise<void> {
  const started = systemClock();
  const count = p.ws.connections.size;
  p.grpc?.setServing(false);
  p.http.close();
  await p.renewal.stop();
  await p.operator.stop();
  p.ws.closeAll(
    new GatewayError(
      ErrorCodes.Internal,
      'Service shutting down',
      'The WebSocket service is being gracefully terminated.',
    ),
    CloseCodes.GoingAway,
  );
  await p.ws.connections.released(Math.max(1000, p.timeoutMs / 2));
  await p.ws.connections.dropSockets(1000);
  await p.engine.stream.stop();
  await p.engine.killSwitch.close();
  await p.grpc?.shutdown(2000);
  await p.engine.close();
  p.http.closeAllConnections();
  p.log.info({ sessions_closed: count, ms: systemClock() - started }, 'gateway stopped');
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host || undefined, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}
