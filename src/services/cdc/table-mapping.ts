import { idProblem } from '../../domain/ids.js';
import type { TableMapping } from '../../domain/cdc-tables.js';
import type { JsonValue } from '../../domain/ports.js';

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
  tables: Readonly<Record<string, TableMapping>>,
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
