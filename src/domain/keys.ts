import { createHash } from 'node:crypto';

/**
 * Redis keys and channels shared with the Go replicas (docs/protocol.md, *Redis*): byte-identical formats.
 */
export const keys = {
  session: (company: string, agent: string, user: string) => `session:${company}:${agent}:${user}`,
  adminSession: (adminId: string) => `session:admin:${adminId}`,
  lastActive: (key: string) => `${key}:last_active`,
  chatsRoute: (company: string, agent: string) => `route:${company}:${agent}:chats`,
  messagesRoute: (company: string, agent: string, chatId: string) => `route:${company}:${agent}:messages:${chatId}`,
  killChannel: (company: string, agent: string, user: string) => `session_kill:${company}:${agent}:${user}`,
  adminKillChannel: (adminId: string) => `session_kill:admin:${adminId}`,
  tokenCache: (token: string) => `token_cache:${sha256Hex(token)}`,
  adminTokenCache: (token: string) => `token_cache:${sha256Hex(`admin_${token}`)}`,
};

export const KILL_PATTERN_USERS = 'session_kill:*:*:*';
export const KILL_PATTERN_ADMINS = 'session_kill:admin:*';

const KILL_PREFIX = 'session_kill:';
const ADMIN_KILL_PREFIX = 'session_kill:admin:';

export function sha256Hex(input: string): string {
  return createHash('sha256').update(input, 'utf8').digest('hex');
}

/** What a route key is for: an agent's chat list, or a chat; undefined for a key of another shape. */
export function routeOfKey(key: string): { companyId: string; agentId: string; chatId?: string } | undefined {
  const parts = key.split(':');
  if (parts[0] !== 'route' || parts.some((p) => p === '')) return undefined;
  const [, companyId, agentId, kind, chatId] = parts as [string, string, string, string, string | undefined];
  if (parts.length === 4 && kind === 'chats') return { companyId, agentId };
  if (parts.length === 5 && kind === 'messages') return { companyId, agentId, chatId: chatId! };
  return undefined;
}

/** The session key a kill channel refers to, or undefined for a channel of another shape. */
export function sessionKeyOfKillChannel(channel: string): string | undefined {
  if (channel.startsWith(ADMIN_KILL_PREFIX)) {
    const adminId = channel.slice(ADMIN_KILL_PREFIX.length);
    return adminId ? keys.adminSession(adminId) : undefined;
  }
  if (!channel.startsWith(KILL_PREFIX)) return undefined;
  const parts = channel.slice(KILL_PREFIX.length).split(':');
  if (parts.length !== 3 || parts.some((p) => p === '')) return undefined;
  const [company, agent, user] = parts as [string, string, string];
  return keys.session(company, agent, user);
}
