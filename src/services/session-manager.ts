import type { Config } from '../platform/config/schema.js';
import type { SessionHooks } from '../domain/metric-hooks.js';
import { ErrorCodes, GatewayError } from '../domain/errors.js';
import { keys, routeOfKey, sessionKeyOfKillChannel } from '../domain/keys.js';
import { OPERATOR_POD_ID } from '../domain/operator.js';
import type { KillMessage, KillSwitch, Logger, RouteRegistry, SessionLocks } from '../domain/ports.js';
import { sessionKeyOf, userTypeOf, type Identity } from '../domain/session.js';
import type { Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';

const MAX_LOCK_RETRY_DELAY_MS = 500;
const LOCK_RETRIES = 3;
const FORCE_ACQUIRE_DELAY_MS = 100;

export const conflictError = (detail: string) =>
  new GatewayError(ErrorCodes.SessionConflict, 'Session conflict', detail);

export interface SessionManagerDeps {
  podId: string;
  /** The slice it reads, live. */
  config: () => Pick<Config, 'app'>;
  locks: SessionLocks;
  killSwitch: KillSwitch;
  routes: RouteRegistry;
  registry: SessionRegistry;
  metrics: SessionHooks;
  log: Logger;
}

/**
 * Exclusive sessions across the fleet (docs/protocol.md, *Redis*): the Go service's lock algorithm, byte-compatible in
 * Redis, plus what the Go service gets wrong (docs/compat.md #5): a second connection of a user on the same
 * pod closes the first, and a closing connection only ever releases its own lock and routes.
 */
export class SessionManager {
  private readonly deps: SessionManagerDeps;

  constructor(deps: SessionManagerDeps) {
    this.deps = deps;
  }

  async listenForKills(): Promise<void> {
    await this.deps.killSwitch.listen((channel, message) => this.onKill(channel, message));
  }

  /**
   * Takes the session lock for `identity`, telling the current holder to let go first. Resolves
   * when this pod holds the lock; rejects with ServiceUnavailable (503) when Redis fails.
   */
  async claim(identity: Identity): Promise<void> {
    const { podId, locks, metrics, config } = this.deps;
    const key = sessionKeyOf(identity);
    const userType = userTypeOf(identity);
    const ttl = config().app.session_ttl_seconds;
    const attempt = async (lockType: string, op: () => Promise<boolean>) => {
      metrics.lockAttempt(userType, lockType);
      const ok = await op();
      if (ok) metrics.lockAcquired(userType, lockType);
      return ok;
    };
    try {
      if (this.deps.registry.get(key)) {
        // The holder is a session of this pod: no one to notify, take over at once.
        await attempt('local_takeover', () => forced(locks.forceAcquire(key, podId, ttl)));
        return;
      }
      if (await attempt('initial_setnx', () => locks.acquire(key, podId, ttl))) return;
      await this.notifyHolder(identity);
      let delay = Math.min(config().app.session_lock_retry_delay_ms, MAX_LOCK_RETRY_DELAY_MS);
      for (let i = 0; i < LOCK_RETRIES; i++) {
        await sleep(delay);
        if (await attempt('retry_setnx', () => locks.acquire(key, podId, ttl))) return;
        delay = Math.min(delay * 2, MAX_LOCK_RETRY_DELAY_MS);
      }
      await sleep(FORCE_ACQUIRE_DELAY_MS);
      await attempt('force_set', () => forced(locks.forceAcquire(key, podId, ttl)));
      // The holder never let go: it may not have heard (its subscriber reconnecting after a failover).
      // Told again, it ends its session now rather than at its next renewal.
      await this.notifyHolder(identity);
    } catch (err) {
      metrics.lockFailed(userType, 'store_error');
      // The same answer as a store that does not answer in time (the endpoint's deadline): try again.
      throw new GatewayError(
        ErrorCodes.ServiceUnavailable,
        'Session store unavailable',
        'The session store failed; try again.',
        { cause: err },
      );
    }
  }

  /** Gives a lock back when the upgrade after claim() did not happen. */
  async unclaim(identity: Identity): Promise<void> {
    if (this.deps.registry.get(sessionKeyOf(identity))) return;
    await this.deps.locks.release(sessionKeyOf(identity), this.deps.podId).catch(() => false);
  }

  /**
   * Registers a connected session (closing a local one of the same user) at once — live events go
   * to it from then on — and then writes its chat-list route (and its chat's, when it has one).
   */
  async attach(session: Session): Promise<void> {
    const { registry, metrics } = this.deps;
    const id = session.identity;
    const hadRoute = id.kind === 'user' && registry.agentSessions(id.companyId, id.agentId).size > 0;
    const firstViewer =
      id.kind === 'user' &&
      session.chatId !== undefined &&
      registry.chatSessions(id.companyId, id.agentId, session.chatId).size === 0;
    const replaced = registry.add(session);
    if (replaced) {
      metrics.conflict(userTypeOf(id));
      replaced.terminate(conflictError('Session taken over by another connection'));
      await this.dropChatRouteIfUnused(replaced).catch((err) =>
        this.deps.log.warn({ err, session_key: replaced.key }, "leaving the replaced session's chat route failed"),
      );
    }
    if (id.kind !== 'user') return;
    const work: Array<Promise<void>> = [];
    if (!hadRoute) work.push(this.addRoute(keys.chatsRoute(id.companyId, id.agentId)));
    if (firstViewer) work.push(this.addRoute(keys.messagesRoute(id.companyId, id.agentId, session.chatId!)));
    await Promise.all(work);
  }

  /** Forgets a closed session: its own registry entry, lock and the routes no one else needs. */
  async detach(session: Session): Promise<void> {
    const { registry, locks, podId } = this.deps;
    if (!registry.remove(session)) return;
    const id = session.identity;
    const work: Array<Promise<unknown>> = [locks.release(session.key, podId)];
    if (id.kind === 'user') {
      if (registry.agentSessions(id.companyId, id.agentId).size === 0) {
        work.push(this.deps.routes.remove(keys.chatsRoute(id.companyId, id.agentId), podId));
      }
      work.push(this.dropChatRouteIfUnused(session));
    }
    await Promise.all(
      work.map((p) =>
        p.catch((err) => this.deps.log.warn({ err, session_key: session.key }, 'releasing session state failed')),
      ),
    );
  }

  /**
   * Moves a user session to another chat at once (synchronously, before the returned promise),
   * then writes the new chat's message route and leaves the old one's.
   */
  async selectChat(session: Session, chatId: string): Promise<void> {
    const id = session.identity;
    if (id.kind !== 'user' || session.chatId === chatId) return;
    const { registry, routes, podId } = this.deps;
    const previous = session.chatId;
    const firstViewer = registry.chatSessions(id.companyId, id.agentId, chatId).size === 0;
    registry.setChat(session, chatId);
    const work: Array<Promise<unknown>> = [];
    if (firstViewer) work.push(this.addRoute(keys.messagesRoute(id.companyId, id.agentId, chatId)));
    if (previous && registry.chatSessions(id.companyId, id.agentId, previous).size === 0) {
      work.push(routes.remove(keys.messagesRoute(id.companyId, id.agentId, previous), podId));
    }
    // The session receives the chat's events from this pod's own reading at once (docs/architecture.md, *How an event
    // travels*); the
    // route set is for Go replicas, and the renewal loop writes it again if Redis is away now.
    await Promise.all(work).catch((err) =>
      this.deps.log.warn({ err, session_key: session.key }, 'route set not updated; renewal will retry'),
    );
  }

  /**
   * Removes this pod id from the route sets that none of its sessions needs: what a previous run
   * under the same pod id left behind (it was killed: no graceful stop removed them). Run a renewal
   * interval after start, so that the sessions that came back have written theirs again. Go replicas
   * forward to the route sets' pods, so a stale entry costs their sessions messages (docs/compat.md).
   */
  async clearStaleRoutes(): Promise<number> {
    const { routes, podId, registry } = this.deps;
    let cleared = 0;
    for (const key of await routes.routesOf(podId)) {
      const route = routeOfKey(key);
      if (!route) continue;
      const needed =
        route.chatId === undefined
          ? registry.agentSessions(route.companyId, route.agentId).size > 0
          : registry.chatSessions(route.companyId, route.agentId, route.chatId).size > 0;
      if (needed) continue;
      await routes.remove(key, podId);
      cleared++;
    }
    return cleared;
  }

  /** Leaves the message route of a session's chat when no other session of this pod views it. */
  private async dropChatRouteIfUnused(session: Session): Promise<void> {
    const id = session.identity;
    if (id.kind !== 'user' || !session.chatId) return;
    if (this.deps.registry.chatSessions(id.companyId, id.agentId, session.chatId).size > 0) return;
    await this.deps.routes.remove(keys.messagesRoute(id.companyId, id.agentId, session.chatId), this.deps.podId);
  }

  private addRoute(routeKey: string): Promise<void> {
    return this.deps.routes.add(routeKey, this.deps.podId, this.deps.config().app.route_ttl_seconds);
  }

  private async notifyHolder(identity: Identity): Promise<void> {
    const channel =
      identity.kind === 'user'
        ? keys.killChannel(identity.companyId, identity.agentId, identity.userId)
        : keys.adminKillChannel(identity.adminId);
    await this.deps.killSwitch
      .publish(channel, { new_pod_id: this.deps.podId })
      .catch((err) => this.deps.log.warn({ err, channel }, 'kill message not published'));
  }

  private onKill(channel: string, message: KillMessage): void {
    if (message.new_pod_id === this.deps.podId) return;
    const key = sessionKeyOfKillChannel(channel);
    const session = key ? this.deps.registry.get(key) : undefined;
    if (!session) return;
    if (message.new_pod_id === OPERATOR_POD_ID) {
      // An operator's disconnect, for the Go replicas; this pod's sessions were told over the operator bus.
      session.terminate(new GatewayError(ErrorCodes.Disconnected, 'Disconnected by an operator'));
      return;
    }
    this.deps.metrics.conflict(userTypeOf(session.identity));
    this.deps.log.info({ session_key: key, new_pod_id: message.new_pod_id }, 'session taken over by another pod');
    session.terminate(conflictError('Session taken over by another connection'));
  }
}

/** A plain SET always takes the lock. */
async function forced(set: Promise<void>): Promise<boolean> {
  await set;
  return true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
