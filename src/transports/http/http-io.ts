import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, GatewayError } from '../../domain/errors.js';
import { headerValue } from '../shared/request.js';

const MAX_BODY_BYTES = 1024 * 1024;

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, error: GatewayError, headers: Record<string, string> = {}): void {
  sendJson(res, error.httpStatus, error.toBody(), headers);
}

const tooLarge = () =>
  new GatewayError(
    ErrorCodes.PayloadTooLarge,
    'Request body too large',
    `The body must be at most ${MAX_BODY_BYTES} bytes.`,
  );

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
