import type { Config } from '../platform/config/schema.js';
import type { RenewalHooks } from '../domain/metric-hooks.js';
import { decideTtl, type AdaptiveTtlRules, type TtlDecision } from '../domain/adaptive-ttl.js';
import { keys } from '../domain/keys.js';
import type { ActivityStore, Logger, RouteRegistry, SessionLocks } from '../domain/ports.js';
import { userTypeOf, type Session } from '../domain/session.js';
import { conflictError } from './session-manager.js';
import type { SessionRegistry } from './session-registry.js';

export interface RenewalDeps {
  podId: string;
  /** The slice it reads, live. */
  config: () => Pick<Config, 'app' | 'adaptive_ttl'>;
  locks: SessionLocks;
  routes: RouteRegistry;
  activity: ActivityStore;
  registry: SessionRegistry;
  metrics: RenewalHooks;
  log: Logger;
  now?: () => number;
}

type KeyType = 'session_lock' | 'chat_route' | 'message_route';

/**
 * Every app.ttl_refresh_interval_seconds: renews the locks of this pod's sessions and the
 * routes it is a member of, with the adaptive TTLs, and writes the `:last_active` keys of
 * what was active since the last tick. Activity is tracked in memory on the hot path and
 * written here, so that delivering an event costs no Redis round trip per session.
 *
 * Routes are renewed once per route key, not once per session.
 */
/** Renewals sent to Redis at once in a tick (see renewAll). */
const RENEWAL_SLICE = 64;

export class RenewalLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastTickMs = 0;
  private readonly now: () => number;

  constructor(private readonly deps: RenewalDeps) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.lastTickMs = this.now();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One tick after another, each interval read when it is scheduled: a reload changes it at once. */
  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.tick();
      this.schedule();
    }, this.deps.config().app.ttl_refresh_interval_seconds * 1000);
    this.timer.unref();
  }

  /** A changed interval takes effect now rather than after the tick already waiting. */
  reschedule(): void {
    clearTimeout(this.timer);
    this.schedule();
  }

  tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.renewAll()
      .catch((err) => this.deps.log.error({ err }, 'renewal tick failed'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async renewAll(): Promise<void> {
    const since = this.lastTickMs;
    this.lastTickMs = this.now();
    const sessions = [...this.deps.registry.all()];
    const work: Array<() => Promise<void>> = [
      ...sessions.map((s) => () => this.renewLock(s)),
      ...this.deps.registry.agents().map((a) => () => this.renewRoute('chat_route', keys.chatsRoute(a.companyId, a.agentId), a.sessions)),
      ...this.deps.registry.chats().map((c) => () => this.renewRoute('message_route', keys.messagesRoute(c.companyId, c.agentId, c.chatId), c.sessions)),
      () => this.writeActivity(sessions, since),
    ];
    // In slices, each answered before the next and with a turn of the event loop between them:
    // thousands of renewals issued at once would hold up live events for tens of milliseconds.
    for (let i = 0; i < work.length; i += RENEWAL_SLICE) {
      await Promise.all(work.slice(i, i + RENEWAL_SLICE).map((renew) => renew()));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private decide(type: KeyType, defaultTtl: number, lastActiveMs: number | undefined): TtlDecision {
    const rules: AdaptiveTtlRules = this.deps.config().adaptive_ttl[type];
    const decision = decideTtl(rules, defaultTtl, lastActiveMs, this.now());
    const { metrics } = this.deps;
    metrics.ttlDecided(type, decision.decision, decision.ttlSeconds, decision.ageSeconds);
    return decision;
  }

  private async renewLock(session: Session): Promise<void> {
    const { locks, podId, metrics, config } = this.deps;
    const userType = userTypeOf(session.identity);
    const { ttlSeconds } = this.decide('session_lock', config().app.session_ttl_seconds, session.lastActivityMs);
    metrics.lockRenewal(userType, 'attempt');
    try {
      // A lock that vanished (Redis restarted, TTL lapsed) is taken again; one held by another pod is lost.
      const ok = (await locks.refresh(session.key, podId, ttlSeconds)) || (await locks.acquire(session.key, podId, ttlSeconds));
      if (ok) return void metrics.lockRenewal(userType, 'success');
      metrics.lockRenewalFailed(userType, 'taken_by_other_pod');
      if (this.deps.registry.get(session.key) !== session) return;
      metrics.conflict(userType);
      session.terminate(conflictError('Session lock is held by another pod'));
    } catch (err) {
      metrics.lockRenewalFailed(userType, 'error');
      this.deps.log.warn({ err, session_key: session.key }, 'session lock renewal failed');
    }
  }

  private async renewRoute(type: 'chat_route' | 'message_route', routeKey: string, sessions: ReadonlySet<Session>): Promise<void> {
    let lastActive: number | undefined;
    for (const s of sessions) if (lastActive === undefined || s.lastActivityMs > lastActive) lastActive = s.lastActivityMs;
    const { ttlSeconds } = this.decide(type, this.deps.config().app.route_ttl_seconds, lastActive);
    const { routes, podId } = this.deps;
    try {
      if (!(await routes.refresh(routeKey, podId, ttlSeconds))) await routes.add(routeKey, podId, ttlSeconds);
    } catch (err) {
      this.deps.log.warn({ err, route: routeKey }, 'route renewal failed');
    }
  }

  private async writeActivity(sessions: Session[], sinceMs: number): Promise<void> {
    const { config, activity } = this.deps;
    const cfg = config();
    const now = this.now();
    const activeSessions = sessions.filter((s) => s.lastActivityMs >= sinceMs).map((s) => s.key);
    // A route is active when one of its sessions got an event (or sent a frame) since the last tick.
    const active = (sessions: ReadonlySet<Session>) => [...sessions].some((s) => s.lastActivityMs >= sinceMs);
    const { registry } = this.deps;
    const activeRoutes = [
      ...registry.agents().filter((a) => active(a.sessions)).map((a) => keys.chatsRoute(a.companyId, a.agentId)),
      ...registry.chats().filter((c) => active(c.sessions)).map((c) => keys.messagesRoute(c.companyId, c.agentId, c.chatId)),
    ];
    const sessionTtl = cfg.adaptive_ttl.session_lock.max_ttl_seconds;
    const routeTtl = cfg.adaptive_ttl.message_route.max_ttl_seconds;
    try {
      await Promise.all([activity.touch(activeSessions, sessionTtl, now), activity.touch(activeRoutes, routeTtl, now)]);
    } catch (err) {
      this.deps.log.warn({ err }, 'activity write failed');
    }
  }

  /** Writes `<session key>:last_active` at once (connect, select_chat), as the seed does. */
  async touchNow(session: Session): Promise<void> {
    const cfg = this.deps.config();
    const ttl = cfg.adaptive_ttl.session_lock.max_ttl_seconds;
    await this.deps.activity.touch([session.key], ttl, this.now()).catch(() => undefined);
  }
}
