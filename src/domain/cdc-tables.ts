/**
 * Which tables the CDC bridge publishes and how a row names its subject (`cdc.tables`,
 * docs/protocol.md, *Row changes*). The seed's tables are the default; configuration adds tables,
 * changes the columns a table's ids come from, or leaves a table out (`false`).
 */
export interface TableMapping {
  /** The subject's last part: `wa.<company>.<agent>.chats`, `….messages.<chat>` or `….agents`. */
  kind: TableKind;
  /** The columns that give the ids: the agent always, the chat for messages, the message's own id. */
  agentColumn: string;
  chatColumn?: string;
  messageColumn?: string;
}

export const TABLE_KINDS = ['chats', 'messages', 'agents'] as const;
export type TableKind = (typeof TABLE_KINDS)[number];

/** The seed's tables (SPEC §18): chats, messages (partitioned), agents of every company schema. */
export const DEFAULT_TABLES: Readonly<Record<string, TableMapping>> = Object.freeze({
  chats: { kind: 'chats', agentColumn: 'agent_id', chatColumn: 'chat_id' },
  messages: { kind: 'messages', agentColumn: 'agent_id', chatColumn: 'chat_id', messageColumn: 'message_id' },
  agents: { kind: 'agents', agentColumn: 'agent_id' },
});

const SETTING_KEYS = new Set(['subject', 'agent_column', 'chat_column', 'message_column']);

/**
 * The mapping `raw` (a YAML mapping, or its JSON in an environment variable) makes of the defaults:
 * `{ <table>: { subject, agent_column?, chat_column?, message_column? } | false }`. Each problem is
 * one line naming the key at fault.
 */
export function tablesFrom(raw: unknown, where: string, problems: string[]): Record<string, TableMapping> {
  let doc = raw;
  if (typeof doc === 'string') {
    try {
      doc = JSON.parse(doc);
    } catch {
      problems.push(
        `${where} must be a mapping of tables (JSON in the environment), e.g. {"tickets":{"subject":"chats"}}`,
      );
      return { ...DEFAULT_TABLES };
    }
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    problems.push(
      `${where} must be a mapping of table names to { subject, agent_column, chat_column, message_column }`,
    );
    return { ...DEFAULT_TABLES };
  }
  const tables: Record<string, TableMapping> = { ...DEFAULT_TABLES };
  for (const [table, setting] of Object.entries(doc as Record<string, unknown>)) {
    const at = `${where}.${table}`;
    if (setting === false || setting === null) {
      delete tables[table];
      continue;
    }
    if (typeof setting !== 'object' || Array.isArray(setting)) {
      problems.push(`${at} must be a mapping { subject, agent_column, … } or false`);
      continue;
    }
    const s = setting as Record<string, unknown>;
    const unknown = Object.keys(s).filter((k) => !SETTING_KEYS.has(k));
    if (unknown.length > 0) problems.push(`${at} has unknown keys: ${unknown.join(', ')}`);
    const kind = s.subject ?? DEFAULT_TABLES[table]?.kind;
    if (!TABLE_KINDS.includes(kind as TableKind)) {
      problems.push(`${at}.subject must be one of ${TABLE_KINDS.join(', ')} (got ${JSON.stringify(kind ?? null)})`);
      continue;
    }
    const column = (key: string, fallback: string | undefined): string | undefined => {
      const value = s[key] ?? fallback;
      if (value === undefined) return undefined;
      if (typeof value !== 'string' || value === '') {
        problems.push(`${at}.${key} must be a column name`);
        return undefined;
      }
      return value;
    };
    const mapping: TableMapping = { kind: kind as TableKind, agentColumn: column('agent_column', 'agent_id')! };
    const chat = column('chat_column', kind === 'agents' ? undefined : 'chat_id');
    const message = column('message_column', kind === 'messages' ? 'message_id' : undefined);
    if (chat) mapping.chatColumn = chat;
    if (message) mapping.messageColumn = message;
    tables[table] = mapping;
  }
  return tables;
}
