import type { Config } from '../platform/config/schema.js';
import { adminClaimsJson, adminScopeProblem, companyClaimsJson, expiryIn } from '../domain/claims.js';
import { ErrorCodes, GatewayError } from '../domain/errors.js';
import { firstIdProblem } from '../domain/ids.js';
import { parseAesKey, sealToken } from '../domain/token-crypto.js';
import { isJsonObject } from '../domain/json.js';
import { systemClock, type Clock } from '../domain/clock.js';

const bad = (details: string) => new GatewayError(ErrorCodes.BadRequest, 'Invalid payload', details);

function requireObject(body: unknown): Record<string, unknown> {
  if (!isJsonObject(body)) throw bad('request body must be a JSON object');
  return body as Record<string, unknown>;
}

function positiveSeconds(value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw bad('expires_in_seconds must be a positive whole number');
  }
  if (value > max) throw bad(`expires_in_seconds must be at most ${max} (auth.max_token_ttl_seconds)`);
  return value;
}

function optionalString(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (value === undefined || value === null || value === '') return '';
  if (typeof value !== 'string') throw bad(`${name} must be a string`);
  return value;
}

function keyOf(hex: string, what: string): Buffer {
  if (!hex)
    throw new GatewayError(ErrorCodes.Internal, 'Server configuration error', `${what} encryption key not configured.`);
  return parseAesKey(hex);
}

/** Mints tokens with the Go service's request bodies and validation (plus docs/compat.md #6 and #8). */
export class TokenMinter {
  constructor(
    private readonly config: () => Pick<Config, 'auth'>,
    private readonly now: Clock = systemClock,
  ) {}

  mintCompany(input: unknown): string {
    const body = requireObject(input);
    const fields = { company_id: body.company_id, agent_id: body.agent_id, user_id: body.user_id };
    if (Object.values(fields).some((v) => v === undefined || v === '') || body.expires_in_seconds === undefined) {
      throw bad('company_id, agent_id, user_id, and positive expires_in_seconds are required.');
    }
    const problem = firstIdProblem(fields);
    if (problem) throw bad(problem);
    const claims = {
      companyId: fields.company_id as string,
      agentId: fields.agent_id as string,
      userId: fields.user_id as string,
      expiresAt: expiryIn(
        positiveSeconds(body.expires_in_seconds, this.config().auth.max_token_ttl_seconds),
        this.now(),
      ),
    };
    return sealToken(keyOf(this.config().auth.token_aes_key, 'Token'), companyClaimsJson(claims));
  }

  mintAdmin(input: unknown): string {
    const body = requireObject(input);
    if (body.admin_id === undefined || body.admin_id === '' || body.expires_in_seconds === undefined) {
      throw bad('admin_id and positive expires_in_seconds are required.');
    }
    const claims = {
      adminId: body.admin_id as string,
      subscribedCompanyId: optionalString(body, 'subscribed_company_id'),
      subscribedAgentId: optionalString(body, 'subscribed_agent_id'),
      companyIdRestriction: optionalString(body, 'company_id_restriction'),
      expiresAt: expiryIn(
        positiveSeconds(body.expires_in_seconds, this.config().auth.max_token_ttl_seconds),
        this.now(),
      ),
    };
    const optional = Object.fromEntries(
      Object.entries({
        subscribed_company_id: claims.subscribedCompanyId,
        subscribed_agent_id: claims.subscribedAgentId,
        company_id_restriction: claims.companyIdRestriction,
      }).filter(([, v]) => v !== ''),
    );
    const problem = firstIdProblem({ admin_id: claims.adminId, ...optional }) ?? adminScopeProblem(claims);
    if (problem) throw bad(problem);
    return sealToken(keyOf(this.config().auth.admin_token_aes_key, 'Admin token'), adminClaimsJson(claims));
  }
}
