import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { openToken, parseAesKey, sealToken } from '../../src/domain/token-crypto.js';
import { KEYS, freePortNumber, uid } from '../helpers/env.js';
import { GoReplicaClient, pushRequestOf } from '../helpers/go-replica.js';
import { spawnGateway, startGateway, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { httpCall } from '../helpers/http-client.js';
import { TestClient, refusal } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait.js';

const POD = '127.0.0.2';
const OLD_AES = KEYS.aes;
const NEW_AES = 'a'.repeat(64);

function tokenWith(keyHex: string, companyId: string, agentId: string, userId: string): string {
  const expires = new Date(Date.now() + 3600_000).toISOString();
  return sealToken(
    parseAesKey(keyHex),
    JSON.stringify({ company_id: companyId, agent_id: agentId, user_id: userId, expires_at: expires }),
  );
}

/**
 * A gateway process at 127.0.0.2 whose configuration (secrets included) lives in a file the test
 * rewrites; clients connect from other loopback addresses (127.0.0.x) to stand for other hosts.
 */
describe('abuse limits and security defaults (SECURITY.md, *Limits*), against a gateway process', () => {
  let dir: string;
  let gw: ChildGateway;
  const grpcPort = freePortNumber();
  const base = {
    auth: {
      secret_token: KEYS.client,
      admin_secret_token: KEYS.admin,
      token_aes_key: OLD_AES,
      admin_token_aes_key: KEYS.adminAes,
    },
  };

  /** Writes the file, sends SIGHUP and waits for the reload line. */
  async function configure(extra: { server?: object; auth?: object; grpc?: object } = {}): Promise<void> {
    const reloads = gw ? gw.output.filter((l) => l.includes('configuration reloaded')).length : 0;
    const doc = { server: { ...extra.server }, auth: { ...base.auth, ...extra.auth }, grpc: { ...extra.grpc } };
    writeFileSync(join(dir, 'config.yaml'), stringify(doc));
    if (!gw) return;
    gw.process.kill('SIGHUP');
    await waitFor(() => gw.output.filter((l) => l.includes('configuration reloaded')).length > reloads);
  }

  const url = (user: string, key = KEYS.client, aes = OLD_AES) =>
    userUrl(gw.ws, 'c1', 'a1', tokenWith(aes, 'c1', 'a1', user), key);
  const mint = (from: string, key = KEYS.client, seconds = 60) =>
    httpCall(`${gw.http}/generate-token`, {
      json: { company_id: 'c1', agent_id: 'a1', user_id: uid('u'), expires_in_seconds: seconds },
      headers: { 'X-API-Key': key },
      localAddress: from,
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dws-security-'));
    await configure();
    gw = await spawnGateway(POD, {
      DAISI_WS_CONFIG_PATH: dir,
      // Empty variables are unset: the secrets come from the file, so a reload can rotate them.
      DAISI_WS_AUTH_SECRET_TOKEN: '',
      DAISI_WS_AUTH_ADMIN_SECRET_TOKEN: '',
      DAISI_WS_AUTH_TOKEN_AES_KEY: '',
      DAISI_WS_AUTH_ADMIN_TOKEN_AES_KEY: '',
      DAISI_WS_SERVER_GRPC_LISTENER: 'on',
      DAISI_WS_SERVER_GRPC_PORT: String(grpcPort),
    });
  });
  after(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'PushEvent from a peer outside grpc.allowed_peers: PERMISSION_DENIED and nothing delivered; from an allowed ' +
      'peer it works',
    async () => {
      await configure({ grpc: { allowed_peers: ['10.0.0.0/8', '192.168.1.7'] } });
      const victim = await TestClient.ready(url(uid('alice')));
      const replica = new GoReplicaClient(`${POD}:${grpcPort}`);
      const forged = pushRequestOf(
        { companyId: 'c1', agentId: 'a1', chatId: '' },
        { event_id: uid('e'), body: 'forged' },
        'attacker',
      );
      await assert.rejects(replica.push(forged), (err: { code: number }) => err.code === 7);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(victim.events().length, 0);

      await configure({ grpc: { allowed_peers: ['127.0.0.0/8'] } });
      const res = await replica.push(
        pushRequestOf({ companyId: 'c1', agentId: 'a1', chatId: '' }, { event_id: uid('e') }, 'go-pod-1'),
      );
      assert.equal(res.success, true);
      await victim.waitEvents(1);
      const metrics = (await httpCall(`${gw.http}/metrics`)).body as string;
      assert.match(metrics, /dws_refusals_total\{surface="grpc",code="E4003"\} 1/);
      replica.close();
      await victim.close();
    },
  );

  it('1,000 pushes with random source_pod_id values leave at most 101 metric series', async () => {
    const replica = new GoReplicaClient(`${POD}:${grpcPort}`);
    for (let i = 0; i < 1000; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, () =>
          replica.push(
            pushRequestOf({ companyId: uid('c'), agentId: 'a', chatId: '' }, { event_id: uid('e') }, uid('pod')),
          ),
        ),
      );
    }
    const metrics = (await httpCall(`${gw.http}/metrics`)).body as string;
    const series = metrics.split('\n').filter((l) => l.startsWith('dws_grpc_messages_received_total{'));
    assert.ok(series.length <= 101, `${series.length} series`);
    assert.ok(series.some((l) => l.includes('source_pod_id="other"')));
    replica.close();
  });

  it('server.max_connections: the upgrade over it gets 503 ServiceUnavailable; a reload raises it', async () => {
    await configure({ server: { max_connections: 2 } });
    const open = await Promise.all([TestClient.ready(url(uid('u'))), TestClient.ready(url(uid('u')))]);
    const over = await refusal(url(uid('u')), {}, { localAddress: '127.0.0.9' });
    assert.deepEqual([over.status, over.body.code], [503, 'ServiceUnavailable']);
    await configure({ server: { max_connections: 3 } });
    const third = await TestClient.ready(url(uid('u')));
    await Promise.all([...open, third].map((c) => c.close()));
  });

  it(
    'server.handshake_rate_per_ip: over the burst gets 429 RateLimitExceeded; another address is not affected; a ' +
      'reload lifts it',
    async () => {
      await configure({ server: { handshake_rate_per_ip: 2 } });
      // Burst = 2 × rate = 4 upgrades at once from 127.0.0.3.
      const first = await Promise.all(
        Array.from({ length: 4 }, () => TestClient.open(url(uid('u')), { localAddress: '127.0.0.3' })),
      );
      const over = await refusal(url(uid('u')), {}, { localAddress: '127.0.0.3' });
      assert.deepEqual([over.status, over.body.code], [429, 'RateLimitExceeded']);
      const other = await TestClient.open(url(uid('u')), { localAddress: '127.0.0.4' });
      await configure({ server: { handshake_rate_per_ip: 0 } });
      const after = await TestClient.open(url(uid('u')), { localAddress: '127.0.0.3' });
      await Promise.all([...first, other, after].map((c) => c.close()));
    },
  );

  it(
    'auth.max_failures_per_ip_per_minute: past it, further failures from that address get 429 on every endpoint; ' +
      'valid credentials from it still pass',
    async () => {
      await configure({ auth: { max_failures_per_ip_per_minute: 3 } });
      const from = '127.0.0.5';
      assert.equal((await mint(from, 'wrong-key')).status, 401);
      assert.equal((await refusal(url(uid('u'), 'wrong-key'), {}, { localAddress: from })).status, 401);
      // A token sealed with an unknown key.
      assert.equal((await refusal(url(uid('u'), KEYS.client, NEW_AES), {}, { localAddress: from })).status, 403);
      const limited = await mint(from, 'wrong-key');
      assert.deepEqual([limited.status, limited.body.code], [429, 'RateLimitExceeded']);
      const ws = await refusal(url(uid('u'), 'wrong-key'), {}, { localAddress: from });
      assert.deepEqual([ws.status, ws.body.code], [429, 'RateLimitExceeded']);
      assert.equal((await mint(from)).status, 200, 'the right key from the same address');
      const valid = await TestClient.open(url(uid('u')), { localAddress: from });
      await valid.next((f) => f.type === 'ready');
      await valid.close();
      assert.equal((await mint('127.0.0.6', 'wrong-key')).status, 401, 'another address is not affected');
      const metrics = (await httpCall(`${gw.http}/metrics`)).body as string;
      assert.match(metrics, /dws_refusals_total\{surface="http",code="RateLimitExceeded"\} 1/);
      assert.match(metrics, /dws_refusals_total\{surface="websocket",code="RateLimitExceeded"\} \d+/);
    },
  );

  it('behind one office NAT: 100 agents connect while one of them sends bad keys all along (default limit)', async () => {
    await configure();
    const from = '127.0.0.9';
    const statuses: number[] = [];
    const waves: Array<Promise<TestClient[]>> = [];
    const wave = (n: number) =>
      Promise.all(
        Array.from({ length: 25 }, async (_, i) => {
          const client = await TestClient.open(url(`agent-${n}-${i}-${uid('u')}`), { localAddress: from });
          await client.next((f) => f.type === 'ready', 10_000);
          return client;
        }),
      );
    // 80 bad keys in a row; a wave of 25 agents starts at the 1st, 21st, 41st and 61st (the last past the limit).
    for (let i = 0; i < 80; i++) {
      if (i % 20 === 0) waves.push(wave(i / 20));
      statuses.push((await refusal(url(uid('x'), 'wrong-key'), {}, { localAddress: from })).status);
    }
    const agents = (await Promise.all(waves)).flat();
    assert.equal(agents.length, 100, 'every agent got ready');
    assert.deepEqual(
      [statuses.filter((s) => s === 401).length, statuses.filter((s) => s === 429).length],
      [60, 20],
      'the first 60 bad keys get 401, the rest 429',
    );
    await Promise.all(agents.map((c) => c.close()));
  });

  it('auth.max_token_ttl_seconds: minting beyond it is 400 BadRequest; a reload lowers it', async () => {
    await configure();
    for (const seconds of [1e15, 1e300, 2.6e11, 2592001]) {
      const r = await mint('127.0.0.7', KEYS.client, seconds);
      assert.deepEqual([r.status, r.body.code], [400, 'BadRequest'], `expires_in_seconds ${seconds}`);
    }
    const longest = await mint('127.0.0.7', KEYS.client, 2592000);
    assert.equal(longest.status, 200);
    await TestClient.ready(userUrl(gw.ws, 'c1', 'a1', longest.body.token)).then((c) => c.close());
    await configure({ auth: { max_token_ttl_seconds: 3600 } });
    assert.equal((await mint('127.0.0.7', KEYS.client, 3601)).status, 400);
    assert.equal((await mint('127.0.0.7', KEYS.client, 3600)).status, 200);
  });

  it('refusals are logged once per minute per class and address, not once per request', async () => {
    await configure();
    const before = gw.output.filter((l) => l.includes('"refused"') && l.includes('127.0.0.8')).length;
    for (let i = 0; i < 50; i++) await mint('127.0.0.8', 'wrong-key');
    await new Promise((r) => setTimeout(r, 200));
    const lines = gw.output.filter((l) => l.includes('"refused"') && l.includes('127.0.0.8')).length - before;
    assert.equal(lines, 1);
  });

  it('key rotation: previous AES and API keys work until removed; no session is dropped by the reloads', async () => {
    await configure();
    const alice = await TestClient.ready(url('alice-rot'));
    const NEW_CLIENT = 'rotated-client-key-0123';
    const NEW_ADMIN = 'rotated-admin-key-0123';
    await configure({
      auth: {
        secret_token: NEW_CLIENT,
        previous_secret_tokens: [KEYS.client],
        admin_secret_token: NEW_ADMIN,
        previous_admin_secret_tokens: [KEYS.admin],
        token_aes_key: NEW_AES,
        previous_token_aes_keys: [OLD_AES],
      },
    });
    // Old token and old key, new token and new key, and the mixes, all open.
    for (const [key, aes] of [
      [KEYS.client, OLD_AES],
      [NEW_CLIENT, NEW_AES],
      [NEW_CLIENT, OLD_AES],
      [KEYS.client, NEW_AES],
    ] as const) {
      await TestClient.ready(url(uid('u'), key, aes)).then((c) => c.close());
    }
    assert.equal(
      (
        await httpCall(`${gw.http}/admin/generate-token`, {
          json: { admin_id: 'ad', expires_in_seconds: 60 },
          headers: { 'X-API-Key': KEYS.admin },
        })
      ).status,
      200,
    );
    // Minting uses the current key.
    const minted = await mint('127.0.0.10', NEW_CLIENT);
    assert.doesNotThrow(() => openToken(parseAesKey(NEW_AES), minted.body.token));
    await TestClient.ready(userUrl(gw.ws, 'c1', 'a1', minted.body.token, NEW_CLIENT)).then((c) => c.close());

    await configure({ auth: { secret_token: NEW_CLIENT, admin_secret_token: NEW_ADMIN, token_aes_key: NEW_AES } });
    const oldToken = await refusal(url(uid('u'), NEW_CLIENT, OLD_AES), {}, { localAddress: '127.0.0.10' });
    assert.deepEqual([oldToken.status, oldToken.body.code], [403, 'InvalidToken']);
    const oldKey = await refusal(url(uid('u'), KEYS.client, NEW_AES), {}, { localAddress: '127.0.0.10' });
    assert.deepEqual([oldKey.status, oldKey.body.code], [401, 'InvalidAPIKey']);
    assert.equal(
      (
        await httpCall(`${gw.http}/admin/generate-token`, {
          json: { admin_id: 'ad', expires_in_seconds: 60 },
          headers: { 'X-API-Key': KEYS.admin },
        })
      ).status,
      403,
    );

    // The session opened before the rotation is still there and still receives events.
    const publish = await httpCall(`${gw.http}/api/publish`, {
      json: { subject: 'wa.c1.a1.chats', event: { after: 'rotation' } },
      headers: { 'X-API-Key': NEW_ADMIN },
    });
    assert.equal(publish.status, 200);
    const [event] = await alice.waitEvents(1);
    assert.deepEqual(event!.payload, { after: 'rotation' });
    await alice.close();
  });
});

describe('production defaults (NODE_ENV=production)', () => {
  it('the client key does not mint tokens, /api/publish and the demo page are off; each can be allowed', async () => {
    const gw = await startGateway({ NODE_ENV: 'production' });
    try {
      const body = { company_id: 'c', agent_id: 'a', user_id: 'u', expires_in_seconds: 60 };
      const minted = await httpCall(`${gw.http}/generate-token`, { json: body, headers: { 'X-API-Key': KEYS.client } });
      assert.deepEqual([minted.status, minted.body.code], [403, 'E4003']);
      const published = await httpCall(`${gw.http}/api/publish`, {
        json: { subject: 'wa.c.a.chats', event: {} },
        headers: { 'X-API-Key': KEYS.admin },
      });
      assert.equal(published.status, 404);
      assert.equal((await httpCall(`${gw.http}/`)).status, 404);
    } finally {
      await gw.stop();
    }
    const allowed = await startGateway({
      NODE_ENV: 'production',
      DAISI_WS_AUTH_ALLOW_CLIENT_KEY_MINTING: 'true',
      DAISI_WS_APP_ENABLE_PUBLISH_API: 'true',
      DAISI_WS_APP_ENABLE_DEMO_PAGE: 'true',
    });
    try {
      const minted = await httpCall(`${allowed.http}/generate-token`, {
        json: { company_id: 'c', agent_id: 'a', user_id: 'u', expires_in_seconds: 60 },
        headers: { 'X-API-Key': KEYS.client },
      });
      assert.equal(minted.status, 200);
      assert.equal(
        (
          await httpCall(`${allowed.http}/api/publish`, {
            json: { subject: 'wa.c.a.chats', event: {} },
            headers: { 'X-API-Key': KEYS.admin },
          })
        ).status,
        200,
      );
      assert.equal((await httpCall(`${allowed.http}/`)).status, 200);
    } finally {
      await allowed.stop();
    }
  });

  it('with auth.token_generation_secret set, that secret mints in production', async () => {
    const gw = await startGateway({
      NODE_ENV: 'production',
      DAISI_WS_AUTH_TOKEN_GENERATION_SECRET: 'server-side-only',
    });
    try {
      const body = { company_id: 'c', agent_id: 'a', user_id: 'u', expires_in_seconds: 60 };
      assert.equal(
        (await httpCall(`${gw.http}/generate-token`, { json: body, headers: { 'X-API-Key': 'server-side-only' } }))
          .status,
        200,
      );
      assert.equal(
        (await httpCall(`${gw.http}/generate-token`, { json: body, headers: { 'X-API-Key': KEYS.client } })).status,
        401,
      );
    } finally {
      await gw.stop();
    }
  });
});
