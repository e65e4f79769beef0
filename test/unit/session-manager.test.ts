import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { MemoryKillSwitch } from '../../src/adapters/memory/kill-switch.js';
import { MemoryRouteRegistry } from '../../src/adapters/memory/route-registry.js';
import { MemorySessionLocks } from '../../src/adapters/memory/session-locks.js';
import { GatewayError } from '../../src/domain/errors.js';
import type { Identity } from '../../src/domain/session.js';
import { loadConfig } from '../../src/platform/config/load.js';
import { Metrics } from '../../src/platform/metrics.js';
import { SessionManager } from '../../src/services/session-manager.js';
import { SessionRegistry } from '../../src/services/session-registry.js';

const { config } = loadConfig({ env: { DAISI_WS_APP_SESSION_LOCK_RETRY_DELAY_MS: '1' }, cwd: '/' });
const alice: Identity = { kind: 'user', companyId: 'co', agentId: 'a1', userId: 'alice' };

function manager(locks: MemorySessionLocks, killSwitch = new MemoryKillSwitch(), podId = 'pod-a') {
  return new SessionManager({
    podId,
    config: () => config,
    locks,
    killSwitch,
    routes: new MemoryRouteRegistry(),
    registry: new SessionRegistry(),
    metrics: new Metrics(false).sessionHooks(),
    log: pino({ level: 'silent' }),
  });
}

describe('SessionManager.claim', () => {
  it('a session store that fails is ServiceUnavailable (503) with its cause, as one that does not answer in time', async () => {
    const outage = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    const locks = new MemorySessionLocks();
    locks.acquire = async () => {
      throw outage;
    };
    const err = await manager(locks)
      .claim(alice)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof GatewayError);
    assert.deepEqual([err.code, err.httpStatus], ['ServiceUnavailable', 503]);
    assert.equal(err.cause, outage);
  });

  it('a holder that never lets go: the lock is forced, and the holder told twice (before and after)', async () => {
    const locks = new MemorySessionLocks();
    await locks.acquire('session:co:a1:alice', 'pod-b', 30);
    const killSwitch = new MemoryKillSwitch();
    const told: string[] = [];
    await killSwitch.listen((_channel, message) => void told.push(message.new_pod_id));
    await manager(locks, killSwitch).claim(alice);
    assert.deepEqual(told, ['pod-a', 'pod-a'], 'a holder whose subscriber was away the first time hears the second');
    assert.equal(await locks.refresh([['session:co:a1:alice', 30]], 'pod-a').then((r) => r[0]), true);
  });
});
