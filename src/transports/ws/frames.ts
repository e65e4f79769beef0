import type { ErrorBody } from '../../domain/errors.js';
import { isJsonObject } from '../../domain/json.js';

/** Server → client frames other than events (docs/protocol.md, *WebSocket*, *Resume*). */
export function readyFrame(epoch: string, expiresAt: string): Buffer {
  return Buffer.from(JSON.stringify({ type: 'ready', payload: { epoch, expires_at: expiresAt } }));
}

export function refreshedFrame(expiresAt: string): Buffer {
  return Buffer.from(JSON.stringify({ type: 'refreshed', payload: { expires_at: expiresAt } }));
}

/** The defined start of a selected chat: every event of it after `since` reaches the session (json.v2 only). */
export function chatSelectedFrame(chatId: string, since: number): Buffer {
  return Buffer.from(JSON.stringify({ type: 'chat_selected', payload: { chat_id: chatId, since } }));
}

export function errorFrame(body: ErrorBody): Buffer {
  return Buffer.from(JSON.stringify({ type: 'error', payload: body }));
}

export type ClientMessage =
  | { type: 'select_chat'; payload: unknown }
  | { type: 'refresh'; payload: unknown }
  | { type: 'ready' }
  | { type: 'unknown'; name: string }
  | { type: 'invalid' };

/** Client → server frames: JSON objects with a `type`. */
export function parseClientMessage(text: string): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { type: 'invalid' };
  }
  if (!isJsonObject(value)) return { type: 'invalid' };
  const { type, payload } = value as { type?: unknown; payload?: unknown };
  if (type === 'select_chat' || type === 'refresh') return { type, payload };
  if (type === 'ready') return { type };
  return { type: 'unknown', name: typeof type === 'string' ? type : '' };
}

/** The chat id (and resume point) of a select_chat payload, or why there is none. */
export function chatIdOf(payload: unknown): { chatId: string; since?: number } | { problem: string } {
  if (!isJsonObject(payload)) {
    return { problem: 'Expected a JSON object as payload.' };
  }
  const { chat_id: chatId, since } = payload as { chat_id?: unknown; since?: unknown };
  if (chatId === undefined) return { problem: 'chat_id is missing.' };
  if (typeof chatId !== 'string' || chatId === '') return { problem: 'chat_id must be a non-empty string.' };
  if (since === undefined || since === null) return { chatId };
  if (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0)
    return { problem: 'since must be a non-negative integer (a stream sequence).' };
  return { chatId, since };
}

/** A `since` query parameter: a non-negative integer, or why it is not one. */
export function sinceOf(text: string): number | undefined {
  if (!/^\d{1,16}$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}
