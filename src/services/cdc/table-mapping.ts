import { idProblem } from '../../domain/ids.js';
import type { JsonValue } from '../../domain/ports.js';

/** What a mapped table's rows become (docs/protocol.md, *Row changes*). */
export interface TableMapping {
  kind: 'chats' | 'messages' | 'agents';
  /** The columns that give the ids: the agent always, the chat for messages, the message's own id. */
  agentColumn: string;
  chatColumn?: string;
  messageColumn?: string;
}

/** The seed's tables (SPEC §18): chats, messages (partitioned), agents of every company schema. */
export const DEFAULT_TABLES: Record<string, TableMapping> = {
  chats: { kind: 'chats', agentColumn: 'agent_id', chatColumn: 'chat_id' },
  messages: { kind: 'messages', agentColumn: 'agent_id', chatColumn: 'chat_id', messageColumn: 'message_id' },
  agents: { kind: 'agents', agentColumn: 'agent_id' },
};

export interface Routed {
  subject: string;
  companyId: string;
  agentId: string;
  chatId?: string;
  messageId?: string;
}

/** Why a row is not published: the table is not ours, or an id is missing or not a subject token. */
export type Skip = { skip: 'unmapped' } | { skip: 'missing_id' | 'invalid_id'; column: string };

/** Where a row of `schema.table` goes: `wa.<company>.<agent>.<kind>[.<chat>]`, or why it does not. */
export function routeOf(
  schemaPrefix: string,
  tables: Record<string, TableMapping>,
  schema: string,
  table: string,
  record: Record<string, JsonValue>,
): Routed | Skip {
  const mapping = Object.hasOwn(tables, table) ? tables[table] : undefined;
  if (!mapping || !schema.startsWith(schemaPrefix)) return { skip: 'unmapped' };
  const companyId = schema.slice(schemaPrefix.length);
  if (idProblem(companyId)) return { skip: 'invalid_id', column: '(schema)' };
  const id = (column: string): string | Skip => {
    const value = record[column];
    if (value === null || value === undefined || value === '') return { skip: 'missing_id', column };
    const text = String(value);
    return idProblem(text) ? { skip: 'invalid_id', column } : text;
  };
  const agentId = id(mapping.agentColumn);
  if (typeof agentId !== 'string') return agentId;
  const routed: Routed = { subject: `wa.${companyId}.${agentId}.${mapping.kind}`, companyId, agentId };
  if (mapping.kind === 'messages') {
    const chatId = id(mapping.chatColumn ?? 'chat_id');
    if (typeof chatId !== 'string') return chatId;
    routed.subject += `.${chatId}`;
    routed.chatId = chatId;
  } else if (mapping.chatColumn && record[mapping.chatColumn] != null) {
    const chatId = id(mapping.chatColumn);
    if (typeof chatId === 'string') routed.chatId = chatId;
  }
  if (mapping.messageColumn && record[mapping.messageColumn] != null) {
    const messageId = id(mapping.messageColumn);
    if (typeof messageId === 'string') routed.messageId = messageId;
  }
  return routed;
}
