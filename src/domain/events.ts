/**
 * Subjects and payloads of the events that the change-data-capture pipeline publishes
 * (SPEC §1): wa.<company>.<agent>.chats | .messages.<chat_id> | .agents
 */
export type EventKind = 'chats' | 'messages' | 'agents';

export interface EventAddress {
  kind: EventKind;
  companyId: string;
  agentId: string;
  chatId?: string;
}

export const SUBJECT_PREFIX = 'wa';
export const STREAM_SUBJECTS = 'wa.>';

export const subjects = {
  chats: (company: string, agent: string) => `wa.${company}.${agent}.chats`,
  messages: (company: string, agent: string, chatId: string) => `wa.${company}.${agent}.messages.${chatId}`,
  agents: (company: string, agent: string) => `wa.${company}.${agent}.agents`,
  allChats: 'wa.*.*.chats',
  allMessages: 'wa.*.*.messages.*',
  allAgents: 'wa.*.*.agents',
};

export function parseSubject(subject: string): EventAddress | undefined {
  const parts = subject.split('.');
  if (parts[0] !== SUBJECT_PREFIX || parts.some((p) => p === '')) return undefined;
  const [, companyId, agentId, kind, chatId] = parts as [string, string, string, string, string | undefined];
  if (parts.length === 4 && (kind === 'chats' || kind === 'agents')) return { kind, companyId, agentId };
  if (parts.length === 5 && kind === 'messages') return { kind, companyId, agentId, chatId: chatId! };
  return undefined;
}

export function subjectOf(address: EventAddress): string {
  if (address.kind === 'messages') return subjects.messages(address.companyId, address.agentId, address.chatId ?? '');
  return address.kind === 'chats'
    ? subjects.chats(address.companyId, address.agentId)
    : subjects.agents(address.companyId, address.agentId);
}

/** The producer's payload (the seed's EnrichedEventPayload). Extra fields are passed through. */
export interface EnrichedEvent {
  event_id?: string;
  event_time?: string;
  company_id?: string;
  agent_id?: string;
  message_id?: string;
  chat_id?: string;
  row_data?: unknown;
  [extra: string]: unknown;
}

/** Parses an event payload; undefined when it is not a JSON object. */
export function parseEventPayload(text: string): EnrichedEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return value as EnrichedEvent;
}

const FRAME_HEAD = Buffer.from('{"type":"event","payload":');
const FRAME_TAIL = Buffer.from('}');

/**
 * The `event` frame, built once per event and shared by every session that receives it. The
 * producer's JSON goes in unchanged: no parse-and-reserialise on the hot path.
 */
export function eventFrame(payloadJson: Buffer | string): Buffer {
  const body = typeof payloadJson === 'string' ? Buffer.from(payloadJson) : payloadJson;
  return Buffer.concat([FRAME_HEAD, body, FRAME_TAIL]);
}
