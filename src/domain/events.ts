import { isUtf8 } from 'node:buffer';
import { isJsonObject } from './json.js';
import { isJsonObjectBytes } from './json-object-check.js';

/**
 * Subjects and payloads of the events that the change-data-capture pipeline publishes
 * (docs/protocol.md, *Subjects and events*): wa.<company>.<agent>.chats | .messages.<chat_id> | .agents
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

/** Whether a NATS subject pattern (`*` one token, `>` the rest) matches a subject. */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

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

/** The producer's payload (the Go service's EnrichedEventPayload). Extra fields are passed through. */
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

/**
 * Parses an event payload (text, or the bytes as read); undefined when it is not a JSON object,
 * or when its bytes are not UTF-8: decoding would hide them (as U+FFFD) while the frame carries
 * them as they are, and a browser closes the connection on a text frame that is not UTF-8.
 */
export function parseEventPayload(payload: string | Uint8Array): EnrichedEvent | undefined {
  if (typeof payload !== 'string' && !isUtf8(payload)) return undefined;
  const text =
    typeof payload === 'string'
      ? payload
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isJsonObject(value)) return undefined;
  return value as EnrichedEvent;
}

/** The payload's `event_id` when it is a string (what a pushed duplicate is recognised by). */
export function eventIdOf(payload: EnrichedEvent): string | undefined {
  return typeof payload.event_id === 'string' ? payload.event_id : undefined;
}

/** The `event_id` of a payload as read (parsed: only a push from a Go replica needs it). */
export function eventIdOfPayload(data: Uint8Array): string | undefined {
  const payload = parseEventPayload(data);
  return payload && eventIdOf(payload);
}

/**
 * Whether a payload as read is deliverable: UTF-8 and a JSON object — what parseEventPayload
 * accepts, found without building the payload (the check every pod makes for every event one of
 * its sessions wants).
 */
export function isEventPayload(data: Uint8Array): boolean {
  if (!isUtf8(data)) return false;
  // Nested beyond what the byte check follows: parsed, as rare as it is.
  return isJsonObjectBytes(data) ?? parseEventPayload(data) !== undefined;
}
