import type { AdminClaims, CompanyClaims } from './claims.js';
import { parseSubject, subjects, type EventAddress } from './events.js';
import { keys } from './keys.js';

export interface UserIdentity {
  kind: 'user';
  companyId: string;
  agentId: string;
  userId: string;
}

export interface AdminIdentity {
  kind: 'admin';
  adminId: string;
  companyIdRestriction: string;
  subscribedCompanyId: string;
  subscribedAgentId: string;
}

export type Identity = UserIdentity | AdminIdentity;

export function companyIdentity(claims: Pick<CompanyClaims, 'companyId' | 'agentId' | 'userId'>): UserIdentity {
  return { kind: 'user', companyId: claims.companyId, agentId: claims.agentId, userId: claims.userId };
}

export function adminIdentity(claims: Omit<AdminClaims, 'expiresAt'>): AdminIdentity {
  const { adminId, companyIdRestriction, subscribedCompanyId, subscribedAgentId } = claims;
  return { kind: 'admin', adminId, companyIdRestriction, subscribedCompanyId, subscribedAgentId };
}

/** The same user, or the same admin with the same scope (what a refreshed token must carry). */
export function sameIdentity(a: Identity, b: Identity): boolean {
  if (a.kind === 'user' || b.kind === 'user') return a.kind === b.kind && sessionKeyOf(a) === sessionKeyOf(b);
  return (
    a.adminId === b.adminId &&
    a.companyIdRestriction === b.companyIdRestriction &&
    a.subscribedCompanyId === b.subscribedCompanyId &&
    a.subscribedAgentId === b.subscribedAgentId
  );
}

export function sessionKeyOf(identity: Identity): string {
  return identity.kind === 'user'
    ? keys.session(identity.companyId, identity.agentId, identity.userId)
    : keys.adminSession(identity.adminId);
}

export function userTypeOf(identity: Identity): 'user' | 'admin' {
  return identity.kind;
}

/**
 * Whether an admin session receives an agent event: its subscription patterns (empty = all)
 * and, never overridden, its company restriction (docs/compat.md #8).
 */
export function adminWants(admin: AdminIdentity, address: EventAddress): boolean {
  if (admin.companyIdRestriction && admin.companyIdRestriction !== address.companyId) return false;
  if (admin.subscribedCompanyId && admin.subscribedCompanyId !== address.companyId) return false;
  return !admin.subscribedAgentId || admin.subscribedAgentId === address.agentId;
}

/** The subjects a user session receives (its agent's chat list, its chat); undefined for admins. */
export function userSubjectsOf(identity: Identity, chatId: string | undefined): string[] | undefined {
  if (identity.kind !== 'user') return undefined;
  const chats = subjects.chats(identity.companyId, identity.agentId);
  return chatId === undefined ? [chats] : [chats, subjects.messages(identity.companyId, identity.agentId, chatId)];
}

/** Which subjects a session receives, as a test a replay can run over thousands of events. */
export function subjectFilterOf(identity: Identity, chatId: string | undefined): (subject: string) => boolean {
  const exact = userSubjectsOf(identity, chatId);
  if (exact) return (subject) => exact.includes(subject);
  const admin = identity as AdminIdentity;
  return (subject) => {
    if (!subject.endsWith('.agents')) return false;
    const address = parseSubject(subject);
    return address?.kind === 'agents' && adminWants(admin, address);
  };
}

/**
 * What a session wants read for it: its agent's chat list and its chat (users), or its scope's
 * pattern of agent events (admins). With interest reading, the pod subscribes to these.
 */
export function interestOf(identity: Identity, chatId: string | undefined): string[] {
  return userSubjectsOf(identity, chatId) ?? [streamFilterOf(identity)];
}

/** The narrowest stream filter that holds every subject a session receives. */
export function streamFilterOf(identity: Identity): string {
  if (identity.kind === 'user') return `wa.${identity.companyId}.${identity.agentId}.>`;
  const company = identity.companyIdRestriction || identity.subscribedCompanyId || '*';
  return `wa.${company}.${identity.subscribedAgentId || '*'}.agents`;
}
