import type { Config } from '../platform/config/schema.js';
import type { RenewalHooks } from '../domain/metric-hooks.js';
import { decideTtl, type AdaptiveTtlRules, type TtlDecision } from '../domain/adaptive-ttl.js';
import { keys } from '../domain/keys.js';
import type { ActivityStore, Logger, RouteRegistry, SessionLocks } from '../domain/ports.js';
import { userTypeOf } from '../domain/session.js';
import type { Session } from './session.js';
import { conflictError } from './session-manager.js';
import type { SessionRegistry } from './session-registry.js';
import { systemClock, type Clock } from '../domain/clock.js';

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
  now?: Clock;
}

type KeyType = 'session_lock' | 'chat_route' | 'message_route';

/** Keys renewed by one Redis call in a tick (see renewAll). */
const RENEWAL_SLICE = 128;

interface RouteToRenew {
  type: 'chat_route' | 'message_route';
  key: string;
  sessions: ReadonlySet<Session>;
}

/**
 * Every app.ttl_refresh_interval_seconds: renews the locks of this pod's sessions and the
 * routes it is a member of, with the adaptive TTLs, and writes the `:last_active` keys of
 * what was active since the last tick. Activity is tracked in memory on the hot path and
 * written here, so that delivering an event costs no Redis round trip per session.
 *
 * Routes are renewed once per route key, not once per session.
 */
export class RenewalLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastTickMs = 0;
  private readonly now: Clock;

  constructor(private readonly deps: RenewalDeps) {
    this.now = deps.now ?? systemClock;
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

  /** A tick that starts now, after the one in progress if any (which may have failed against a lost connection). */
  async renewNow(): Promise<void> {
    await this.running;
    await this.tick();
  }

  /**
   * Reads the registry as it goes, a slice at a time, rather than copying it up front (the copies
   * and the activity filter were a stretch of the loop of their own, ~4 ms at 1,000 sessions), and
   * gathers what was active since the last tick on the way. A session or route that goes away
   * before its slice is not renewed.
   */
  private async renewAll(): Promise<void> {
    const since = this.lastTickMs;
    this.lastTickMs = this.now();
    const { registry } = this.deps;
    const activeSessions: string[] = [];
    const activeRoutes: string[] = [];
    await inSlices(registry.all(), (slice) => {
      for (const s of slice) if (s.lastActivityMs >= since) activeSessions.push(s.key);
      return this.renewLocks(slice);
    });
    await inSlices(routesOf(registry), (slice) => {
      // A route is active when one of its sessions got an event (or sent a frame) since the last tick.
      for (const r of slice) if (activeSince(r.sessions, since)) activeRoutes.push(r.key);
      return this.renewRoutes(slice);
    });
    await this.writeActivity(activeSessions, activeRoutes);
  }

  private decide(type: KeyType, defaultTtl: number, lastActiveMs: number | undefined): TtlDecision {
    const rules: AdaptiveTtlRules = this.deps.config().adaptive_ttl[type];
    const decision = decideTtl(rules, defaultTtl, lastActiveMs, this.now());
    const { metrics } = this.deps;
    metrics.ttlDecided(type, decision.decision, decision.ttlSeconds, decision.ageSeconds);
    return decision;
  }

  private async renewLocks(sessions: Session[]): Promise<void> {
    const { locks, podId, metrics, config } = this.deps;
    const defaultTtl = config().app.session_ttl_seconds;
    const entries = sessions.map((s) => {
      metrics.lockRenewal(userTypeOf(s.identity), 'attempt');
      return [s.key, this.decide('session_lock', defaultTtl, s.lastActivityMs).ttlSeconds] as const;
    });
    let renewed: boolean[];
    try {
      renewed = await locks.refresh(entries, podId);
    } catch (err) {
      for (const s of sessions) metrics.lockRenewalFailed(userTypeOf(s.identity), 'error');
      return this.deps.log.warn({ err, sessions: sessions.length }, 'session lock renewal failed');
    }
    // A lock that vanished (Redis restarted, TTL lapsed) is taken again; one held by another pod is lost.
    await Promise.all(
      sessions.map((s, i) =>
        renewed[i] ? metrics.lockRenewal(userTypeOf(s.identity), 'success') : this.retake(s, entries[i]![1]),
      ),
    );
  }

  private async retake(session: Session, ttlSeconds: number): Promise<void> {
    const { locks, podId, metrics } = this.deps;
    const userType = userTypeOf(session.identity);
    // Closed since its slice was read: taking its lock again would shut the user out until it lapsed.
    if (this.deps.registry.get(session.key) !== session) return;
    try {
      if (await locks.acquire(session.key, podId, ttlSeconds)) return void metrics.lockRenewal(userType, 'success');
      metrics.lockRenewalFailed(userType, 'taken_by_other_pod');
      if (this.deps.registry.get(session.key) !== session) return;
      metrics.conflict(userType);
      session.terminate(conflictError('Session lock is held by another pod'));
    } catch (err) {
      metrics.lockRenewalFailed(userType, 'error');
      this.deps.log.warn({ err, session_key: session.key }, 'session lock renewal failed');
    }
  }

  private async renewRoutes(routes: RouteToRenew[]): Promise<void> {
    const { routes: registry, podId, config } = this.deps;
    const defaultTtl = config().app.route_ttl_seconds;
    const entries = routes.map((r) => {
      let lastActive: number | undefined;
      for (const s of r.sessions)
        if (lastActive === undefined || s.lastActivityMs > lastActive) lastActive = s.lastActivityMs;
      return [r.key, this.decide(r.type, defaultTtl, lastActive).ttlSeconds] as const;
    });
    try {
      const renewed = await registry.refresh(entries, podId);
      // A route set that vanished (Redis restarted, TTL lapsed) is written again, if it still has sessions here.
      await Promise.all(
        entries.map(([key, ttl], i) =>
          renewed[i] || routes[i]!.sessions.size === 0 ? undefined : registry.add(key, podId, ttl),
        ),
      );
    } catch (err) {
      this.deps.log.warn({ err, routes: routes.length }, 'route renewal failed');
    }
  }

  private async writeActivity(activeSessions: string[], activeRoutes: string[]): Promise<void> {
    const { config, activity } = this.deps;
    const cfg = config();
    const now = this.now();
    const sessionTtl = cfg.adaptive_ttl.session_lock.max_ttl_seconds;
    const routeTtl = cfg.adaptive_ttl.message_route.max_ttl_seconds;
    try {
      await Promise.all([activity.touch(activeSessions, sessionTtl, now), activity.touch(activeRoutes, routeTtl, now)]);
    } catch (err) {
      this.deps.log.warn({ err }, 'activity write failed');
    }
  }

  /** Writes `<session key>:last_active` at once (connect, select_chat), as the Go service does. */
  async touchNow(session: Session): Promise<void> {
    const cfg = this.deps.config();
    const ttl = cfg.adaptive_ttl.session_lock.max_ttl_seconds;
    // A stamp lost to an outage is written again by the next tick, which logs the failure once for all of them.
    await this.deps.activity.touch([session.key], ttl, this.now()).catch(() => undefined);
  }
}

/**
 * Runs `renew` on RENEWAL_SLICE items at a time — one Redis call per slice — each answered before
 * the next, with a turn of the event loop between: thousands of renewals at once would hold up
 * live events. `items` is read a slice at a time, so it may be a live view.
 */
async function inSlices<T>(items: Iterable<T>, renew: (slice: T[]) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  for (let done = false; !done; ) {
    const slice: T[] = [];
    while (slice.length < RENEWAL_SLICE) {
      const next = iterator.next();
      if (next.done) {
        done = true;
        break;
      }
      slice.push(next.value);
    }
    if (slice.length > 0) await renew(slice);
    if (!done) await new Promise((resolve) => setImmediate(resolve));
  }
}

function* routesOf(registry: SessionRegistry): IterableIterator<RouteToRenew> {
  for (const a of registry.agents())
    yield { type: 'chat_route', key: keys.chatsRoute(a.companyId, a.agentId), sessions: a.sessions };
  for (const c of registry.chats())
    yield { type: 'message_route', key: keys.messagesRoute(c.companyId, c.agentId, c.chatId), sessions: c.sessions };
}

function activeSince(sessions: ReadonlySet<Session>, sinceMs: number): boolean {
  for (const s of sessions) if (s.lastActivityMs >= sinceMs) return true;
  return false;
}
