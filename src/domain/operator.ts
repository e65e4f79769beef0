import type { DisconnectTarget, SessionFilter } from './ports.js';
import type { Identity } from './session.js';

/**
 * The `new_pod_id` of the kill-switch message an operator's disconnect publishes for Go replicas
 * (docs/protocol.md, *Redis*): no pod has this id, so every pod holding the session lets it go, and
 * a daisi-ws pod knows it for an operator's (Disconnected, 4410) rather than a takeover.
 */
export const OPERATOR_POD_ID = 'daisi-ws-operator';

/** The block key of a disconnect target: what a new session of it is checked against. */
export function blockKeyOf(target: DisconnectTarget): string {
  if (target.kind === 'admin') return `admin:${target.adminId}`;
  if (target.userId !== undefined) return `user:${target.companyId}:${target.agentId}:${target.userId}`;
  if (target.agentId !== undefined) return `agent:${target.companyId}:${target.agentId}`;
  return `company:${target.companyId}`;
}

/** Every block key that covers an identity: its company, agent and user, or its admin id. */
export function blockKeysOf(identity: Identity): string[] {
  if (identity.kind === 'admin') return [`admin:${identity.adminId}`];
  const { companyId: c, agentId: a, userId: u } = identity;
  return [`company:${c}`, `agent:${c}:${a}`, `user:${c}:${a}:${u}`];
}

/** Whether a disconnect target covers a session's identity. */
export function targetCovers(target: DisconnectTarget, identity: Identity): boolean {
  if (target.kind === 'admin') return identity.kind === 'admin' && identity.adminId === target.adminId;
  if (identity.kind !== 'user' || identity.companyId !== target.companyId) return false;
  if (target.agentId !== undefined && identity.agentId !== target.agentId) return false;
  return target.userId === undefined || identity.userId === target.userId;
}

/** Whether a session's identity is one a listing asks for. */
export function filterMatches(filter: SessionFilter, identity: Identity): boolean {
  if (identity.kind === 'admin') {
    if (filter.companyId !== undefined || filter.agentId !== undefined || filter.userId !== undefined) return false;
    return filter.adminId === undefined || filter.adminId === identity.adminId;
  }
  if (filter.adminId !== undefined) return false;
  if (filter.companyId !== undefined && identity.companyId !== filter.companyId) return false;
  if (filter.agentId !== undefined && identity.agentId !== filter.agentId) return false;
  return filter.userId === undefined || identity.userId === filter.userId;
}
