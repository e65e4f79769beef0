import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { adminClaimsJson, companyClaimsJson, parseAdminClaims, parseCompanyClaims } from '../../src/domain/claims.js';
import { keys } from '../../src/domain/keys.js';
import { TokenError } from '../../src/domain/errors.js';
import { openToken, parseAesKey, sealToken } from '../../src/domain/token-crypto.js';

// The project's shared/ beside the clone is the source; test/fixtures/vectors is a copy for clones without it.
const SHARED = new URL('../../../shared/vectors/', import.meta.url);
const VECTORS = existsSync(SHARED) ? SHARED : new URL('../fixtures/vectors/', import.meta.url);
const load = (name: string) =>
  JSON.parse(readFileSync(new URL(name, VECTORS), 'utf8')) as { vectors: Array<Record<string, any>> };

function openAs(kind: 'company' | 'admin', keyHex: string, token: string) {
  const plaintext = openToken(parseAesKey(keyHex), token);
  return kind === 'company' ? parseCompanyClaims(plaintext) : parseAdminClaims(plaintext);
}

function failureKind(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TokenError, `expected a TokenError, got ${err}`);
    return err.kind;
  }
  assert.fail('expected the token to be refused');
}

describe('Go token vectors', () => {
  for (const v of load('company_tokens.json').vectors) {
    it(`company ${v.name}: ${v.description}`, () => {
      const plaintext = openToken(parseAesKey(v.key_hex), v.token);
      assert.equal(plaintext.toString('hex'), v.plaintext_hex);
      assert.equal(keys.tokenCache(v.token), v.cache_key);
      if (v.expired)
        return assert.equal(
          failureKind(() => parseCompanyClaims(plaintext)),
          'expired',
        );
      const claims = parseCompanyClaims(plaintext);
      assert.deepEqual(
        { company: claims.companyId, agent: claims.agentId, user: claims.userId, expires: claims.expiresAt.text },
        { company: v.company_id, agent: v.agent_id, user: v.user_id, expires: v.expires_at },
      );
      assert.equal(
        BigInt(claims.expiresAt.ms) * 1_000_000n + BigInt(claims.expiresAt.subMsNanos),
        BigInt(v.expires_at_unix_nano),
      );
      assert.deepEqual(JSON.parse(companyClaimsJson(claims)), JSON.parse(v.plaintext_json));
    });
  }

  for (const v of load('admin_tokens.json').vectors) {
    it(`admin ${v.name}: ${v.description}`, () => {
      const plaintext = openToken(parseAesKey(v.key_hex), v.token);
      assert.equal(plaintext.toString('hex'), v.plaintext_hex);
      assert.equal(keys.adminTokenCache(v.token), v.cache_key);
      if (v.expired)
        return assert.equal(
          failureKind(() => parseAdminClaims(plaintext)),
          'expired',
        );
      const claims = parseAdminClaims(plaintext);
      assert.equal(claims.adminId, v.admin_id);
      assert.equal(claims.companyIdRestriction, v.company_id_restriction);
      assert.equal(claims.subscribedCompanyId, v.subscribed_company_id);
      assert.equal(claims.subscribedAgentId, v.subscribed_agent_id);
      assert.equal(
        BigInt(claims.expiresAt.ms) * 1_000_000n + BigInt(claims.expiresAt.subMsNanos),
        BigInt(v.expires_at_unix_nano),
      );
      assert.equal(adminClaimsJson(claims), v.plaintext_json);
    });
  }

  for (const v of load('bad_tokens.json').vectors) {
    it(`refuses ${v.name} as ${v.expected_error}`, () => {
      assert.equal(
        failureKind(() => openAs(v.kind, v.key_hex, v.token)),
        v.expected_error,
      );
    });
  }
});

describe('sealToken', () => {
  const keyHex = '270cec3a9081be630f5350bc42b244156615e55a2153e2652dc4f460673350c6';

  it('writes padded URL-safe base64 that opens again', () => {
    for (const size of [0, 1, 2, 3, 50, 51, 52]) {
      const plaintext = Buffer.alloc(size, 7);
      const token = sealToken(parseAesKey(keyHex), plaintext);
      assert.equal(token.length % 4, 0, `token for ${size} bytes is padded`);
      assert.match(token, /^[A-Za-z0-9_-]*={0,2}$/);
      assert.deepEqual(openToken(parseAesKey(keyHex), token), plaintext);
    }
  });

  it('uses a fresh nonce each time', () => {
    const key = parseAesKey(keyHex);
    assert.notEqual(sealToken(key, 'same'), sealToken(key, 'same'));
  });
});
