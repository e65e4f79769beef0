import type { ErrorBody } from './errors.js';
import { isJsonObject } from './json.js';

/**
 * The client contract's frames, both ways (docs/protocol.md, *WebSocket*, *Resume*): every frame the gateway
 * sends is built here, and every frame a client sends is read here. Nothing else writes frame JSON.
 */

const FRAME_HEAD = Buffer.from('{"type":"event","seq":');
const FRAME_HEAD_NO_SEQ = Buffer.from('{"type":"event"');
const FRAME_PAYLOAD = Buffer.from(',"payload":');
const FRAME_TAIL = Buffer.from('}');

/**
 * The `event` frame (docs/architecture.md, *How an event travels*), built once per event and shared by every session
 * that receives it: `{"type":"event","seq":<stream sequence>,"payload":<the producer's JSON, byte for byte>}`. No
 * parse-and-reserialise on the hot path. An event a Go replica pushed that this pod never read from the stream has no
 * sequence, and its frame no `seq`.
 */
export function eventFrame(payloadJson: Uint8Array | string, seq?: number): Buffer {
  const body = typeof payloadJson === 'string' ? Buffer.from(payloadJson) : payloadJson;
  const digits = seq === undefined ? '' : String(seq);
  const head = seq === undefined ? FRAME_HEAD_NO_SEQ : FRAME_HEAD;
  const frame = Buffer.allocUnsafe(
    head.length + digits.length + FRAME_PAYLOAD.length + body.byteLength + FRAME_TAIL.length,
  );
  let at = head.copy(frame, 0);
  at += frame.write(digits, at, 'latin1');
  at += FRAME_PAYLOAD.copy(frame, at);
  frame.set(body, at);
  at += body.byteLength;
  FRAME_TAIL.copy(frame, at);
  return frame;
}

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

/** The end of a replay: events `from`..`to` of the session's subjects, `count` of them sent. */
export function resumedFrame(from: number, to: number, count: number): Buffer {
  return Buffer.from(JSON.stringify({ type: 'resumed', payload: { from, to, count } }));
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
