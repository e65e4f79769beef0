import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { UpgradeTarget } from '../../services/admission.js';

export const REQUEST_ID_HEADER = 'x-request-id';

/** The request id of a request or upgrade: echoed from X-Request-ID (when sane) or generated. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  const value = Array.isArray(given) ? given[0] : given;
  return value && value.length <= 200 && /^[\x21-\x7e]+$/.test(value) ? value : randomUUID();
}

export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The client API key: the `X-API-Key` header, else the `x-api-key` query parameter (browsers cannot set headers on a
 * WebSocket).
 */
export function clientApiKeyOf(req: IncomingMessage, url: URL): string | undefined {
  return headerValue(req, 'x-api-key') || url.searchParams.get('x-api-key') || undefined;
}

/**
 * The WebSocket endpoints (docs/protocol.md, *HTTP*): /ws/admin and /ws/{company}/{agent}; undefined for any other
 * path.
 */
export function webSocketTargetOf(pathname: string): UpgradeTarget | undefined {
  if (pathname === '/ws/admin') return { kind: 'admin' };
  const m = /^\/ws\/([^/]+)\/([^/]+)\/?$/.exec(pathname);
  if (!m) return undefined;
  try {
    return { kind: 'company', companyId: decodeURIComponent(m[1]!), agentId: decodeURIComponent(m[2]!) };
  } catch {
    return undefined;
  }
}
