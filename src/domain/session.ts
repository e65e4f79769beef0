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

/** The narrowest stream filter that holds every subject a session receives. */
export function streamFilterOf(identity: Identity): string {
  if (identity.kind === 'user') return `wa.${identity.companyId}.${identity.agentId}.>`;
  const company = identity.companyIdRestriction || identity.subscribedCompanyId || '*';
  return `wa.${company}.${identity.subscribedAgentId || '*'}.agents`;
}
