import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../../src/platform/config/load.js';
import { RedisTokenCache } from '../../src/adapters/redis/token-cache.js';
import { AuthFailure } from '../../src/domain/errors.js';
import { AuthService } from '../../src/services/auth-service.js';
import { keys, sha256Hex } from '../../src/domain/keys.js';
import { parseAesKey, sealToken } from '../../src/domain/token-crypto.js';
import { KEYS, REDIS_ADDRESS, baseEnv, uid } from '../helpers/env.js';
import { adminToken, companyToken } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

const silent = pino({ level: 'silent' });

/** The cache write does not hold up the handshake: wait for it to land. */
async function written(redis: Redis, key: string): Promise<string | null> {
  let value: string | null = null;
  const landed = async () => {
    value = await redis.get(key);
    return value !== null;
  };
  await waitFor(landed, 1000, `${key} written`).catch(() => undefined);
  return value;
}

describe('token cache in Redis (docs/protocol.md, *Tokens*)', () => {
  let redis: Redis;
  let auth: AuthService;
  const company = uid('c');
  const made: string[] = [];

  before(() => {
    redis = new Redis(REDIS_ADDRESS);
    const cfg = loadConfig({
      env: baseEnv({ DAISI_WS_AUTH_TOKEN_CACHE_TTL_SECONDS: '30', DAISI_WS_AUTH_ADMIN_TOKEN_CACHE_TTL_SECONDS: '60' }),
    }).config;
    auth = new AuthService(() => cfg, new RedisTokenCache(redis), silent);
  });
  after(async () => {
    if (made.length) await redis.del(...made);
    redis.disconnect();
  });

  it('caches a company token under token_cache:<sha256(token)> with the claims JSON and a 30 s TTL', async () => {
    const token = companyToken(company, 'a1', 'u1');
    const key = `token_cache:${sha256Hex(token)}`;
    made.push(key);
    assert.equal(keys.tokenCache(token), key);
    await auth.authenticateCompany(token);
    const value = JSON.parse((await written(redis, key))!);
    assert.deepEqual(Object.keys(value), ['company_id', 'agent_id', 'user_id', 'expires_at']);
    assert.deepEqual([value.company_id, value.agent_id, value.user_id], [company, 'a1', 'u1']);
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 25 && ttl <= 30, `ttl ${ttl}`);
  });

  it('caches an admin token under token_cache:<sha256("admin_"+token)> with a 60 s TTL', async () => {
    const token = adminToken({ admin_id: uid('adm'), company_id_restriction: company });
    const key = `token_cache:${sha256Hex(`admin_${token}`)}`;
    made.push(key);
    await auth.authenticateAdmin(token);
    const value = JSON.parse((await written(redis, key))!);
    assert.deepEqual(Object.keys(value), ['admin_id', 'company_id_restriction', 'expires_at']);
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 55 && ttl <= 60, `ttl ${ttl}`);
  });

  it('uses a cache entry written by another pod (a Go replica) without decrypting', async () => {
    const token = 'not-decryptable-but-cached==';
    const key = keys.tokenCache(token);
    made.push(key);
    await redis.set(
      key,
      JSON.stringify({ company_id: company, agent_id: 'a9', user_id: 'u9', expires_at: '2099-01-01T00:00:00.5+07:00' }),
      'EX',
      30,
    );
    const claims = await auth.authenticateCompany(token);
    assert.deepEqual([claims.companyId, claims.agentId, claims.userId], [company, 'a9', 'u9']);
  });

  it('does not trust a cached entry past its expires_at', async () => {
    const token = sealToken(
      parseAesKey(KEYS.aes),
      JSON.stringify({ company_id: company, agent_id: 'a1', user_id: 'u2', expires_at: '2001-01-01T00:00:00Z' }),
    );
    const key = keys.tokenCache(token);
    made.push(key);
    await redis.set(
      key,
      JSON.stringify({ company_id: company, agent_id: 'a1', user_id: 'u2', expires_at: '2001-01-01T00:00:00Z' }),
      'EX',
      30,
    );
    await assert.rejects(
      auth.authenticateCompany(token),
      (err: unknown) => err instanceof AuthFailure && err.reason === 'expired',
    );
  });

  it('degrades to decrypting when Redis fails', async () => {
    const dead = new Redis({
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    dead.on('error', () => undefined);
    const cfg = loadConfig({ env: baseEnv() }).config;
    const degraded = new AuthService(() => cfg, new RedisTokenCache(dead), silent);
    const claims = await degraded.authenticateCompany(companyToken(company, 'a1', 'u3'));
    assert.equal(claims.userId, 'u3');
    dead.disconnect();
  });
});
