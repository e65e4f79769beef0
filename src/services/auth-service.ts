import type { Config } from '../platform/config/schema.js';
import {
  adminClaimsJson,
  adminScopeProblem,
  companyClaimsJson,
  parseAdminClaims,
  parseCompanyClaims,
  type AdminClaims,
  type CompanyClaims,
} from '../domain/claims.js';
import { AuthFailure, ErrorCodes, GatewayError, TokenError, type TokenFailure } from '../domain/errors.js';
import { firstIdProblem } from '../domain/ids.js';
import { keys } from '../domain/keys.js';
import type { Logger, TokenCache } from '../domain/ports.js';
import { openToken, parseAesKey } from '../domain/token-crypto.js';
import { systemClock, type Clock } from '../domain/clock.js';

export type TokenType = 'company' | 'admin';

const LABEL: Record<TokenType, string> = { company: 'Company token', admin: 'Admin token' };

function failure(
  type: TokenType,
  kind: TokenFailure | 'missing' | 'invalid_id' | 'scope',
  details?: string,
): AuthFailure {
  const label = LABEL[type];
  switch (kind) {
    case 'missing':
      return new AuthFailure(
        new GatewayError(ErrorCodes.InvalidToken, `${label} is required`, "Provide 'token' in query parameter."),
        'missing',
      );
    case 'expired':
      return new AuthFailure(new GatewayError(ErrorCodes.InvalidToken, `${label} has expired.`), 'expired');
    case 'invalid_id':
    case 'scope':
      return new AuthFailure(new GatewayError(ErrorCodes.InvalidToken, `${label} is not acceptable.`, details), kind);
    default:
      return new AuthFailure(
        new GatewayError(
          ErrorCodes.InvalidToken,
          `${label} is invalid or malformed.`,
          'Token format or content error.',
        ),
        'invalid_format_or_content',
      );
  }
}

function notConfigured(type: TokenType): AuthFailure {
  return new AuthFailure(
    new GatewayError(
      ErrorCodes.Internal,
      `Server configuration error processing ${type} token.`,
      'Internal server error.',
    ),
    'config_error_aes_key',
  );
}

/**
 * Company and admin token processing (docs/protocol.md, *Tokens*): the Redis cache first (an entry past its
 * expires_at is ignored), then AES-GCM decryption, then id checks (docs/compat.md #6, #8). A cache
 * that fails degrades to decrypting; it never refuses a user.
 */
export class AuthService {
  constructor(
    /** The slice it reads, live. */
    private readonly config: () => Pick<Config, 'auth'>,
    private readonly cache: TokenCache,
    private readonly log: Logger,
    private readonly now: Clock = systemClock,
  ) {}

  async authenticateCompany(token: string | undefined): Promise<CompanyClaims> {
    if (!token) throw failure('company', 'missing');
    const auth = this.config().auth;
    const claims = await this.resolve(
      'company',
      token,
      [auth.token_aes_key, ...auth.previous_token_aes_keys],
      auth.token_cache_ttl_seconds,
      keys.tokenCache(token),
      parseCompanyClaims,
      companyClaimsJson,
    );
    const problem = firstIdProblem({ company_id: claims.companyId, agent_id: claims.agentId, user_id: claims.userId });
    if (problem) throw failure('company', 'invalid_id', problem);
    return claims;
  }

  async authenticateAdmin(token: string | undefined): Promise<AdminClaims> {
    if (!token) throw failure('admin', 'missing');
    const auth = this.config().auth;
    const claims = await this.resolve(
      'admin',
      token,
      [auth.admin_token_aes_key, ...auth.previous_admin_token_aes_keys],
      auth.admin_token_cache_ttl_seconds,
      keys.adminTokenCache(token),
      parseAdminClaims,
      adminClaimsJson,
    );
    const optional = {
      company_id_restriction: claims.companyIdRestriction,
      subscribed_company_id: claims.subscribedCompanyId,
      subscribed_agent_id: claims.subscribedAgentId,
    };
    const problem = firstIdProblem({ admin_id: claims.adminId, ...nonEmpty(optional) });
    if (problem) throw failure('admin', 'invalid_id', problem);
    const scope = adminScopeProblem(claims);
    if (scope) throw failure('admin', 'scope', scope);
    return claims;
  }

  private async resolve<C>(
    type: TokenType,
    token: string,
    /** The current key, then the previous ones still accepted during a rotation. */
    aesKeysHex: readonly string[],
    cacheTtlSeconds: number,
    cacheKey: string,
    parse: (plaintext: string | Buffer, nowMs: number) => C,
    serialise: (claims: C) => string,
  ): Promise<C> {
    if (!aesKeysHex[0]) throw notConfigured(type);
    // Opening the token here (a few µs) is cheaper than asking Redis (a round trip), and gives the
    // same claims; the cache is read only for a token this pod cannot open, which another pod
    // (a Go replica with other keys, docs/protocol.md, *Tokens*) may have validated.
    let claims: C;
    try {
      claims = parse(openWithAny(aesKeysHex, token), this.now());
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      const cached = await this.readCache(cacheKey, (text) => parse(text, this.now()));
      if (cached) return cached;
      throw failure(type, err.kind);
    }
    // Not awaited: the handshake does not wait for the cache write.
    void this.cache
      .set(cacheKey, serialise(claims), cacheTtlSeconds)
      .catch((err) => this.log.warn({ err }, 'token cache write failed'));
    return claims;
  }

  private async readCache<C>(cacheKey: string, parse: (text: string) => C): Promise<C | undefined> {
    let text: string | undefined;
    try {
      text = await this.cache.get(cacheKey);
    } catch (err) {
      this.log.warn({ err }, 'token cache read failed');
      return undefined;
    }
    if (text === undefined) return undefined;
    try {
      return parse(text);
    } catch {
      return undefined; // expired or unreadable cache entries are not trusted
    }
  }
}

/** The configured keys, parsed once each rather than on every handshake (a reload brings new ones). */
const parsedKeys = new Map<string, Buffer>();

function aesKeyOf(hex: string): Buffer {
  let key = parsedKeys.get(hex);
  if (key === undefined) {
    key = parseAesKey(hex);
    if (parsedKeys.size >= 16) parsedKeys.clear(); // keys rotated many times over: start again
    parsedKeys.set(hex, key);
  }
  return key;
}

/** Opens `token` with the first key that authenticates it. */
function openWithAny(keysHex: readonly string[], token: string): Buffer {
  let failure: unknown;
  for (const hex of keysHex) {
    try {
      return openToken(aesKeyOf(hex), token);
    } catch (err) {
      if (!(err instanceof TokenError) || err.kind !== 'decryption_failed') throw err;
      failure = err;
    }
  }
  throw failure;
}

function nonEmpty(fields: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== ''));
}
