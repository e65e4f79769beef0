import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { MemoryEventStream } from '../../src/adapters/memory/event-stream.js';
import { MemoryKillSwitch } from '../../src/adapters/memory/kill-switch.js';
import { MemoryRouteRegistry } from '../../src/adapters/memory/route-registry.js';
import { MemorySessionLocks } from '../../src/adapters/memory/session-locks.js';
import { MemoryTokenCache } from '../../src/adapters/memory/token-cache.js';
import { Blocked, ErrorCodes, GatewayError } from '../../src/domain/errors.js';
import type { Block } from '../../src/domain/ports.js';
import type { Identity } from '../../src/domain/session.js';
import { loadConfig } from '../../src/platform/config/load.js';
import { Metrics } from '../../src/platform/metrics.js';
import { AbuseLimits } from '../../src/services/abuse-limits.js';
import { Admission, type UpgradeRequest, type UpgradeTarget } from '../../src/services/admission.js';
import { AuthService } from '../../src/services/auth-service.js';
import { SessionManager } from '../../src/services/session-manager.js';
import { SessionRegistry } from '../../src/services/session-registry.js';
import { TokenMinter } from '../../src/services/token-minter.js';
import { KEYS } from '../helpers/env.js';

const NOW = Date.parse('2026-12-07T12:00:00Z');
const silent = pino({ level: 'silent' });

/** An Admission on the memory adapters, with a fixed clock; `prepared` lists what the stream was asked for. */
function setUp(env: Record<string, string> = {}, opened = true) {
  const { config } = loadConfig({
    cwd: '/',
    env: {
      DAISI_WS_AUTH_SECRET_TOKEN: KEYS.client,
      DAISI_WS_AUTH_ADMIN_SECRET_TOKEN: KEYS.admin,
      DAISI_WS_AUTH_TOKEN_AES_KEY: KEYS.aes,
      DAISI_WS_AUTH_ADMIN_TOKEN_AES_KEY: KEYS.adminAes,
      DAISI_WS_APP_SESSION_LOCK_RETRY_DELAY_MS: '1',
      DAISI_WS_APP_HANDSHAKE_TIMEOUT_SECONDS: '1',
      ...env,
    },
  });
  const clock = () => NOW;
  const locks = new MemorySessionLocks();
  const prepared: string[][] = [];
  const stream = new MemoryEventStream();
  stream.prepare = async (patterns?: readonly string[]) => void prepared.push([...(patterns ?? [])]);
  const auth: Array<[string, string]> = [];
  const blocks = new Map<string, Block>();
  let open = 0;
  const sessions = new SessionManager({
    podId: 'pod-a',
    config: () => config,
    locks,
    killSwitch: new MemoryKillSwitch(),
    routes: new MemoryRouteRegistry(),
    registry: new SessionRegistry(),
    metrics: new Metrics(false).sessionHooks(),
    log: silent,
  });
  const admission = new Admission({
    config: () => config,
    auth: new AuthService(() => config, new MemoryTokenCache(), silent, clock),
    limits: new AbuseLimits(() => config, clock),
    sessions,
    stream,
    hooks: {
      authSucceeded: (type) => void auth.push([type, 'ok']),
      authFailed: (type, reason) => void auth.push([type, reason]),
    },
    sessionLimit: () => config.server.max_connections,
    openSessions: () => open,
    blockOf: (identity) => blocks.get(identity.kind === 'user' ? identity.userId : identity.adminId),
    clock,
  });
  if (opened) admission.open();
  const minter = new TokenMinter(() => config, clock);
  const companyToken = (user = 'alice', agent = 'a1') =>
    minter.mintCompany({ company_id: 'co', agent_id: agent, user_id: user, expires_in_seconds: 600 });
  const adminToken = (admin = 'root') => minter.mintAdmin({ admin_id: admin, expires_in_seconds: 600 });
  return {
    admission,
    locks,
    prepared,
    auth,
    blocks,
    companyToken,
    adminToken,
    setOpen: (n: number) => (open = n),
  };
}

const company: UpgradeTarget = { kind: 'company', companyId: 'co', agentId: 'a1' };

function upgrade(query: Record<string, string>, over: Partial<UpgradeRequest> = {}): UpgradeRequest {
  return {
    path: '/ws/co/a1',
    target: company,
    query: new URLSearchParams(query),
    address: '10.0.0.1',
    clientKey: KEYS.client,
    headers: { upgrade: 'websocket', key: 'dGhlIHNhbXBsZSBub25jZQ==', version: '13', host: 'gw.example' },
    ...over,
  };
}

/** The refusal of a promise, as [code, HTTP status, message]. */
async function refusal(p: Promise<unknown>): Promise<[string, number, string]> {
  const err = await p.then(
    () => assert.fail('admitted'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof GatewayError, String(err));
  return [err.code, err.httpStatus, err.message];
}

const alice: Identity = { kind: 'user', companyId: 'co', agentId: 'a1', userId: 'alice' };

describe('Admission: who may open a session (services/admission.ts)', () => {
  it('a company token for its own path: admitted with its expiry, the lock held, the interest prepared', async () => {
    const t = setUp();
    const admitted = await t.admission.admit(upgrade({ token: t.companyToken() }));
    assert.deepEqual(admitted.identity, alice);
    assert.equal(admitted.expiresAt.text, '2026-12-07T12:10:00Z');
    assert.deepEqual(admitted.start, {});
    assert.equal(await t.locks.acquire('session:co:a1:alice', 'pod-b', 30), false, 'pod-a holds the lock');
    assert.equal(t.prepared.length, 1);
    assert.deepEqual(t.auth, [['company', 'ok']]);
  });

  it('an admin token on /ws/admin', async () => {
    const t = setUp();
    const admitted = await t.admission.admit(
      upgrade({ token: t.adminToken() }, { path: '/ws/admin', target: { kind: 'admin' } }),
    );
    assert.equal(admitted.identity.kind, 'admin');
    assert.deepEqual(t.auth, [['admin', 'ok']]);
  });

  it('the pod takes upgrades only between open() and close(): 503 before and after', async () => {
    const starting = setUp({}, false);
    assert.equal(starting.admission.accepting, false);
    assert.deepEqual(await refusal(starting.admission.admit(upgrade({ token: starting.companyToken() }))), [
      'ServiceUnavailable',
      503,
      'Service starting',
    ]);
    const t = setUp();
    assert.equal(t.admission.accepting, true);
    t.admission.close();
    assert.equal(t.admission.accepting, false);
    assert.deepEqual(await refusal(t.admission.admit(upgrade({ token: t.companyToken() }))), [
      'ServiceUnavailable',
      503,
      'Service shutting down',
    ]);
  });

  it('refuses, each with its status: no endpoint, wrong key, not an upgrade, foreign origin', async () => {
    const t = setUp({ DAISI_WS_SERVER_ALLOWED_ORIGINS: 'https://app.example' });
    const token = t.companyToken();
    const headers = upgrade({}).headers;
    assert.deepEqual(
      (await refusal(t.admission.admit(upgrade({ token }, { target: undefined, path: '/ws/x' }))))[1],
      404,
    );
    assert.deepEqual(
      (await refusal(t.admission.admit(upgrade({ token }, { clientKey: 'wrong' }))))[0],
      'InvalidAPIKey',
    );
    assert.deepEqual((await refusal(t.admission.admit(upgrade({ token }, { clientKey: undefined }))))[1], 401);
    assert.deepEqual(await refusal(t.admission.admit(upgrade({ token }, { headers: { ...headers, version: '8' } }))), [
      'BadRequest',
      400,
      'WebSocket upgrade required',
    ]);
    assert.deepEqual(
      await refusal(t.admission.admit(upgrade({ token }, { headers: { ...headers, origin: 'https://evil.example' } }))),
      [ErrorCodes.Forbidden, 403, 'Origin not allowed'],
    );
    // The host itself and an allowed origin pass.
    await t.admission.admit(upgrade({ token }, { headers: { ...headers, origin: 'https://gw.example' } }));
    await t.admission.admit(upgrade({ token }, { headers: { ...headers, origin: 'https://app.example' } }));
  });

  it('a token for another path, a missing token, a broken one: InvalidToken, counted with their reason', async () => {
    const t = setUp();
    const other = await refusal(t.admission.admit(upgrade({ token: t.companyToken('alice', 'a2') })));
    assert.deepEqual(other.slice(0, 2), ['InvalidToken', 403]);
    await refusal(t.admission.admit(upgrade({})));
    await refusal(t.admission.admit(upgrade({ token: 'not-a-token' })));
    assert.deepEqual(
      t.auth.map(([type, reason]) => `${type}:${reason}`),
      ['company:path_mismatch', 'company:missing', 'company:invalid_format_or_content'],
    );
  });

  it('chat_id and since: checked, and carried into the start', async () => {
    const t = setUp();
    const token = t.companyToken();
    const admitted = await t.admission.admit(upgrade({ token, chat_id: 'c9', since: '41', epoch: 'E1' }));
    assert.deepEqual(admitted.start, { chatId: 'c9', resume: { since: 41, epoch: 'E1' } });
    assert.ok(
      t.prepared.at(-1)!.some((p) => p.includes('c9')),
      'the selected chat is prepared with the session',
    );
    const bad = async (query: Record<string, string>) =>
      (await refusal(t.admission.admit(upgrade({ token, ...query }))))[2];
    assert.equal(await bad({ chat_id: 'c 9' }), 'Invalid chat_id');
    assert.equal(await bad({ since: '-1', epoch: 'E1' }), 'Invalid since');
    assert.equal(await bad({ since: '1.5', epoch: 'E1' }), 'Invalid since');
    assert.equal(await bad({ since: '41' }), 'Invalid since');
    const admin = { path: '/ws/admin', target: { kind: 'admin' } as const };
    assert.equal(
      (await refusal(t.admission.admit(upgrade({ token: t.adminToken(), chat_id: 'c9' }, admin))))[2],
      'Invalid chat_id',
    );
  });

  it('an operator block refuses the identity, and takes no lock', async () => {
    const t = setUp();
    t.blocks.set('alice', { untilMs: NOW + 60_000, reason: 'abuse' });
    const err = await t.admission.admit(upgrade({ token: t.companyToken() })).catch((e: unknown) => e);
    assert.ok(err instanceof Blocked);
    assert.equal(await t.locks.acquire('session:co:a1:alice', 'pod-b', 30), true, 'no lock was taken');
  });

  it('capacity: upgrades in flight count with open sessions until released; the handshake rate is per address', async () => {
    const t = setUp({ DAISI_WS_SERVER_MAX_CONNECTIONS: '3' });
    t.setOpen(1);
    const first = t.admission.reserve('10.0.0.1');
    t.admission.reserve('10.0.0.2');
    assert.throws(
      () => t.admission.reserve('10.0.0.3'),
      (e: GatewayError) => e.httpStatus === 503 && e.message === 'Too many connections',
    );
    first();
    first(); // a second release gives back nothing more
    t.admission.reserve('10.0.0.1');
    assert.throws(
      () => t.admission.reserve('10.0.0.9'),
      (e: GatewayError) => e.httpStatus === 503,
    );
    const rate = setUp({ DAISI_WS_SERVER_HANDSHAKE_RATE_PER_IP: '2' }).admission;
    for (let i = 0; i < 4; i++) rate.reserve('10.0.0.1'); // a burst of twice the rate
    assert.throws(
      () => rate.reserve('10.0.0.1'),
      (e: GatewayError) => e.httpStatus === 429,
    );
    rate.reserve('10.0.0.2');
  });

  it('a session store that fails fast and one that does not answer: the same 503, and a late lock is given back', async () => {
    const fast = setUp();
    const outage = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    fast.locks.acquire = async () => {
      throw outage;
    };
    const failed = await fast.admission.admit(upgrade({ token: fast.companyToken() })).catch((e: unknown) => e);
    assert.ok(failed instanceof GatewayError);
    assert.deepEqual([failed.code, failed.httpStatus, failed.cause], ['ServiceUnavailable', 503, outage]);

    const slow = setUp();
    const acquire = slow.locks.acquire.bind(slow.locks);
    let answer: (() => void) | undefined;
    slow.locks.acquire = (key, owner, ttl) =>
      new Promise((resolve) => (answer = () => void acquire(key, owner, ttl).then(resolve)));
    const timedOut = await slow.admission.admit(upgrade({ token: slow.companyToken() })).catch((e: unknown) => e);
    assert.ok(timedOut instanceof GatewayError);
    assert.deepEqual([timedOut.code, timedOut.httpStatus], ['ServiceUnavailable', 503]);
    answer!(); // the store answers after the deadline: the lock it gave is released
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(await acquire('session:co:a1:alice', 'pod-b', 30), true, 'the late lock was given back');
  });

  it('withdraw gives back the lock of an admitted upgrade whose session did not open', async () => {
    const t = setUp();
    const admitted = await t.admission.admit(upgrade({ token: t.companyToken() }));
    await t.admission.withdraw(admitted);
    assert.equal(await t.locks.acquire('session:co:a1:alice', 'pod-b', 30), true);
  });

  it('an in-band refresh: the new expiry for the same identity; another identity or no token is InvalidToken', async () => {
    const t = setUp();
    assert.equal((await t.admission.reauthenticate(alice, t.companyToken())).text, '2026-12-07T12:10:00Z');
    assert.deepEqual(
      (await refusal(t.admission.reauthenticate(alice, t.companyToken('bob'))))[2],
      'Token is for another identity',
    );
    assert.deepEqual((await refusal(t.admission.reauthenticate(alice, 42)))[2], 'Invalid refresh payload');
    const admitted = await t.admission.admit(
      upgrade({ token: t.adminToken() }, { path: '/ws/admin', target: { kind: 'admin' } }),
    );
    assert.equal((await t.admission.reauthenticate(admitted.identity, t.adminToken())).text, '2026-12-07T12:10:00Z');
    assert.equal(
      (await refusal(t.admission.reauthenticate(admitted.identity, t.adminToken('eve'))))[0],
      'InvalidToken',
    );
  });
});
