import { TokenError } from './errors.js';
import { formatRfc3339, isGoZeroTime, parseRfc3339, type Instant } from './rfc3339.js';
import { isJsonObject } from './json.js';

/**
 * The plaintext of company and admin tokens (docs/protocol.md, *Tokens*), decoded the way Go's json.Unmarshal
 * into the Go service's structs would: unknown fields ignored, keys matched exactly first and then
 * case-insensitively, null leaves a field empty, a wrong type is an error.
 */
export interface CompanyClaims {
  companyId: string;
  agentId: string;
  userId: string;
  expiresAt: Instant;
}

export interface AdminClaims {
  adminId: string;
  companyIdRestriction: string;
  subscribedCompanyId: string;
  subscribedAgentId: string;
  expiresAt: Instant;
}

function invalid(message: string): TokenError {
  return new TokenError('payload_invalid', message);
}

function parseObject(plaintext: Buffer | string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(typeof plaintext === 'string' ? plaintext : plaintext.toString('utf8'));
  } catch {
    throw invalid('token payload is not JSON');
  }
  if (value === null) return {};
  if (!isJsonObject(value)) throw invalid('token payload is not a JSON object');
  return value as Record<string, unknown>;
}

function field(obj: Record<string, unknown>, name: string): unknown {
  if (name in obj) return obj[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(obj)) if (key.toLowerCase() === lower) return obj[key];
  return undefined;
}

function stringField(obj: Record<string, unknown>, name: string): string {
  const value = field(obj, name);
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalid(`${name} is not a string`);
  return value;
}

function timeField(obj: Record<string, unknown>, name: string): Instant | undefined {
  const value = field(obj, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(`${name} is not a time`);
  const instant = parseRfc3339(value);
  if (!instant) throw invalid(`${name} is not an RFC 3339 time`);
  return instant;
}

function requireLive(expiresAt: Instant | undefined, nowMs: number, what: string): Instant {
  if (!expiresAt || isGoZeroTime(expiresAt)) throw invalid(`missing essential fields in ${what} (expires_at)`);
  if (nowMs > expiresAt.ms) throw new TokenError('expired', `${what} expired at ${expiresAt.text}`);
  return expiresAt;
}

export function parseCompanyClaims(plaintext: Buffer | string, nowMs = Date.now()): CompanyClaims {
  const obj = parseObject(plaintext);
  const claims = {
    companyId: stringField(obj, 'company_id'),
    agentId: stringField(obj, 'agent_id'),
    userId: stringField(obj, 'user_id'),
  };
  const expiresAt = timeField(obj, 'expires_at');
  if (!claims.companyId || !claims.agentId || !claims.userId) {
    throw invalid('missing essential fields (company_id, agent_id, user_id, expires_at)');
  }
  return { ...claims, expiresAt: requireLive(expiresAt, nowMs, 'token') };
}

export function parseAdminClaims(plaintext: Buffer | string, nowMs = Date.now()): AdminClaims {
  const obj = parseObject(plaintext);
  const claims = {
    adminId: stringField(obj, 'admin_id'),
    companyIdRestriction: stringField(obj, 'company_id_restriction'),
    subscribedCompanyId: stringField(obj, 'subscribed_company_id'),
    subscribedAgentId: stringField(obj, 'subscribed_agent_id'),
  };
  const expiresAt = timeField(obj, 'expires_at');
  if (!claims.adminId) throw invalid('missing essential fields (admin_id, expires_at) in admin token');
  return { ...claims, expiresAt: requireLive(expiresAt, nowMs, 'admin token') };
}

/** JSON as Go's json.Marshal of AuthenticatedUserContext writes it (also the Redis cache value). */
export function companyClaimsJson(c: CompanyClaims): string {
  return JSON.stringify({
    company_id: c.companyId,
    agent_id: c.agentId,
    user_id: c.userId,
    expires_at: c.expiresAt.text,
  });
}

/** JSON as Go's json.Marshal of AdminUserContext writes it: omitempty on the optional fields. */
export function adminClaimsJson(c: AdminClaims): string {
  const out: Record<string, string> = { admin_id: c.adminId };
  if (c.companyIdRestriction) out.company_id_restriction = c.companyIdRestriction;
  if (c.subscribedCompanyId) out.subscribed_company_id = c.subscribedCompanyId;
  if (c.subscribedAgentId) out.subscribed_agent_id = c.subscribedAgentId;
  out.expires_at = c.expiresAt.text;
  return JSON.stringify(out);
}

export function expiryIn(seconds: number, nowMs = Date.now()): Instant {
  const ms = nowMs + seconds * 1000;
  return { ms, subMsNanos: 0, text: formatRfc3339(ms) };
}

/**
 * An admin token whose subscribed company contradicts its restriction could never receive an
 * event (docs/compat.md #8): it is refused rather than accepted and silent.
 */
export function adminScopeProblem(
  c: Pick<AdminClaims, 'companyIdRestriction' | 'subscribedCompanyId'>,
): string | undefined {
  if (c.companyIdRestriction && c.subscribedCompanyId && c.subscribedCompanyId !== c.companyIdRestriction) {
    return 'subscribed_company_id contradicts company_id_restriction';
  }
  return undefined;
}
