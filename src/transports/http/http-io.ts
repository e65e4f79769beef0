import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCodes, GatewayError, type ErrorBody } from '../../domain/errors.js';

export const REQUEST_ID_HEADER = 'x-request-id';
const MAX_BODY_BYTES = 1024 * 1024;

/** The request id of a request: echoed from X-Request-ID (when sane) or generated. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  const value = Array.isArray(given) ? given[0] : given;
  return value && value.length <= 200 && /^[\x21-\x7e]+$/.test(value) ? value : randomUUID();
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, error: GatewayError, headers: Record<string, string> = {}): void {
  sendJson(res, error.httpStatus, error.toBody(), headers);
}

/** Answers an upgrade request that is refused: a plain HTTP response on the raw socket. */
export function rejectUpgrade(socket: Duplex, status: number, body: ErrorBody, requestId: string): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(text)}\r\n` +
      `X-Request-ID: ${requestId}\r\n` +
      'Connection: close\r\n\r\n' +
      text,
  );
}

const tooLarge = () => new GatewayError(ErrorCodes.PayloadTooLarge, 'Request body too large', `The body must be at most ${MAX_BODY_BYTES} bytes.`);

export async function readJson(req: IncomingMessage): Promise<unknown> {
  if (Number(headerValue(req, 'content-length')) > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new GatewayError(ErrorCodes.BadRequest, 'Invalid request payload', (err as Error).message);
  }
}

export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
