import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { ActivityStore, RouteRegistry, SessionLocks } from '../../src/domain/ports.js';
import type { Session } from '../../src/services/session.js';
import { loadConfig } from '../../src/platform/config/load.js';
import { Metrics } from '../../src/platform/metrics.js';
import { RenewalLoop } from '../../src/services/renewal-loop.js';
import { SessionRegistry } from '../../src/services/session-registry.js';

const { config } = loadConfig({ env: {}, cwd: '/' });

function session(agent: string, user: string, activeMs: number): Session {
  const s = {
    key: `session:co:${agent}:${user}`,
    identity: { kind: 'user', companyId: 'co', agentId: agent, userId: user },
    chatId: undefined,
    lastActivityMs: activeMs,
    terminated: 0,
    terminate: () => void s.terminated++,
  };
  return s as unknown as Session;
}

/** Redis as the renewal loop sees it after a restart: every lock and route set gone, so each is taken again. */
function emptiedRedis(onRefresh: () => void = () => undefined) {
  const acquired: string[] = [];
  const added: string[] = [];
  const touched: string[] = [];
  const locks = {
    async refresh(entries: ReadonlyArray<readonly [string, number]>) {
      onRefresh();
      return entries.map(() => false);
    },
    async acquire(key: string) {
      acquired.push(key);
      return true;
    },
  } as unknown as SessionLocks;
  const routes = {
    refresh: async (entries: ReadonlyArray<unknown>) => entries.map(() => false),
    add: async (key: string) => void added.push(key),
  } as unknown as RouteRegistry;
  const activity: ActivityStore = { touch: async (keys) => void touched.push(...keys) };
  return { locks, routes, activity, acquired, added, touched };
}

describe('renewal loop', () => {
  it('takes lost locks and route sets again, writes :last_active for what was active since the last tick', async () => {
    const now = 1_000_000;
    const registry = new SessionRegistry();
    const busy = session('a1', 'u1', now + 5);
    const quiet = session('a2', 'u2', now - 60_000);
    for (const s of [busy, quiet]) registry.add(s);
    registry.setChat(busy, 'c1');
    registry.setChat(quiet, 'c2');
    const redis = emptiedRedis();
    const loop = new RenewalLoop({
      podId: 'pod-a',
      config: () => config,
      ...redis,
      registry,
      metrics: new Metrics(false).renewalHooks(),
      log: pino({ level: 'silent' }),
      now: () => now,
    });
    loop.start();
    await loop.tick();
    await loop.stop();
    assert.deepEqual(redis.acquired.sort(), [busy.key, quiet.key].sort());
    assert.deepEqual(redis.added.sort(), [
      'route:co:a1:chats',
      'route:co:a1:messages:c1',
      'route:co:a2:chats',
      'route:co:a2:messages:c2',
    ]);
    assert.deepEqual(redis.touched.sort(), [busy.key, 'route:co:a1:chats', 'route:co:a1:messages:c1'].sort());
  });

  it('does not take again the lock or route of a session that closed while the tick ran', async () => {
    const registry = new SessionRegistry();
    const sessions = Array.from({ length: 300 }, (_, i) => session(`a${i}`, `u${i}`, 0)); // three slices
    for (const s of sessions) registry.add(s);
    const closing = sessions[10]!; // in the first slice
    const redis = emptiedRedis(() => registry.remove(closing));
    const loop = new RenewalLoop({
      podId: 'pod-a',
      config: () => config,
      ...redis,
      registry,
      metrics: new Metrics(false).renewalHooks(),
      log: pino({ level: 'silent' }),
    });
    await loop.tick();
    assert.equal(redis.acquired.length, 299);
    assert.ok(!redis.acquired.includes(closing.key), 'the closed session was locked again');
    assert.ok(!redis.added.includes('route:co:a10:chats'), "the closed session's route was written again");
    assert.equal(redis.added.length, 299);
  });
});
