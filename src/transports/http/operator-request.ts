import { ErrorCodes, GatewayError } from '../../domain/errors.js';
import { idProblem } from '../../domain/ids.js';
import { isJsonObject } from '../../domain/json.js';
import type { DisconnectTarget, SessionFilter } from '../../domain/ports.js';
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from '../../services/operator.js';

const bad = (what: string, details: string) => new GatewayError(ErrorCodes.BadRequest, `Invalid ${what}`, details);
const MAX_REASON_CHARS = 200;
const MAX_BLOCK_SECONDS = 86_400;

/** GET /api/sessions?company_id=&agent_id=&user_id=&admin_id=&limit= (docs/protocol.md, *Operator API*). */
export function parseSessionsQuery(query: URLSearchParams): { filter: SessionFilter; limit: number } {
  const filter: SessionFilter = {};
  for (const [param, field] of [
    ['company_id', 'companyId'],
    ['agent_id', 'agentId'],
    ['user_id', 'userId'],
    ['admin_id', 'adminId'],
  ] as const) {
    const value = query.get(param);
    if (value === null || value === '') continue;
    const problem = idProblem(value);
    if (problem) throw bad('sessions query', `${param} ${problem}`);
    filter[field] = value;
  }
  const limitText = query.get('limit');
  const limit = limitText === null || limitText === '' ? DEFAULT_LIST_LIMIT : Number(limitText);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw bad('sessions query', `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  return { filter, limit };
}

export interface DisconnectRequest {
  target: DisconnectTarget;
  reason: string;
  blockSeconds: number;
}

/** POST /api/disconnect: `{company_id, agent_id?, user_id?}` or `{admin_id}`, `reason?`, `block_seconds?`. */
export function parseDisconnect(body: unknown): DisconnectRequest {
  if (!isJsonObject(body)) throw bad('disconnect request', 'body must be a JSON object');
  const b = body as Record<string, unknown>;
  return { target: targetOf(b), reason: reasonOf(b.reason), blockSeconds: blockOf(b.block_seconds) };
}

function targetOf(b: Record<string, unknown>): DisconnectTarget {
  const id = (field: string): string | undefined => {
    const value = b[field];
    if (value === undefined) return undefined;
    const problem = idProblem(value);
    if (problem) throw bad('disconnect request', `${field} ${problem}`);
    return value as string;
  };
  const [companyId, agentId, userId, adminId] = ['company_id', 'agent_id', 'user_id', 'admin_id'].map(id);
  if (adminId !== undefined) {
    if (companyId !== undefined || agentId !== undefined || userId !== undefined) {
      throw bad('disconnect request', 'admin_id stands alone: no company_id, agent_id or user_id with it');
    }
    return { kind: 'admin', adminId };
  }
  if (companyId === undefined) throw bad('disconnect request', 'company_id (or admin_id) is required');
  if (userId !== undefined && agentId === undefined) throw bad('disconnect request', 'user_id needs agent_id');
  return { kind: 'company', companyId, agentId, userId };
}

function reasonOf(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string' || value.length > MAX_REASON_CHARS) {
    throw bad('disconnect request', `reason must be a string of at most ${MAX_REASON_CHARS} characters`);
  }
  return value;
}

function blockOf(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_BLOCK_SECONDS) {
    throw bad('disconnect request', `block_seconds must be an integer from 0 to ${MAX_BLOCK_SECONDS}`);
  }
  return value;
}
