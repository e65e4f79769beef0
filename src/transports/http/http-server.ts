import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../../platform/config/schema.js';
import type { Logger } from '../../domain/ports.js';
import type { Metrics } from '../../platform/metrics.js';
import type { RefusalLog } from '../../platform/refusal-log.js';
import { ErrorCodes, GatewayError, toGatewayError } from '../../domain/errors.js';
import type { AbuseLimits } from '../../services/abuse-limits.js';
import type { TokenMinter } from '../../services/token-minter.js';
import { adminKeys, checkAdminKey, checkClientKey, clientKeys } from '../../services/api-keys.js';
import { clientAddressOf } from '../shared/client-address.js';
import { clientApiKeyOf, headerValue, requestIdOf, webSocketTargetOf } from '../shared/request.js';
import type { ConnectionBudget } from '../../platform/process-limits.js';
import { ConnectionGuard } from './connection-guard.js';
import { readJson, sendError, sendJson } from './http-io.js';
import { type Readiness, sendMetrics, sendReadiness } from './readiness.js';
import { parsePublishRequest } from './publish-request.js';
import { parseDisconnect, parseSessionsQuery } from './operator-request.js';
import type { OperatorService } from '../../services/operator.js';

/** A file served as it is: the demo and operator pages, the client module. */
export interface StaticFile {
  type: string;
  body: Buffer;
  etag: string;
  /** Cached by browsers for a day (the client module: its ETag changes with every build). */
  cacheable: boolean;
  /** The body compressed, for clients that accept it (files worth compressing). */
  gzip?: Buffer;
  br?: Buffer;
}

/**
 * The pages' policy: their own scripts and styles only (no inline script), WebSockets to their own
 * host, never framed. Sent with every HTML page (docs/protocol.md, *HTTP*).
 */
const PAGE_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** The client SDK's browser module: served whatever the page settings, to any origin's pages. */
const CLIENT_MODULE_PATH = '/daisi-ws-client.js';
const ADMIN_PAGE_PATHS = new Set(['/admin', '/admin.js', '/admin.css']);
/** The pages' icon: there with either page. */
const FAVICON_PATHS = new Set(['/favicon.ico', '/favicon.svg']);

export interface HttpDeps {
  config: () => Config;
  minter: TokenMinter;
  metrics: Metrics;
  log: Logger;
  /** The WebSocket endpoint: upgrades on this server go to it. */
  ws: { handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> };
  limits: AbuseLimits;
  refusals: RefusalLog;
  /** NODE_ENV=production: the client key mints only when auth.allow_client_key_minting. */
  production: boolean;
  readiness(): Promise<Readiness>;
  publish(subject: string, payload: string, requestId: string): Promise<{ seq: number }>;
  /** Static files (the demo page); undefined when there is none. */
  staticFile?(path: string): StaticFile | undefined;
  /** The operator API's fleet-wide answers (docs/protocol.md, *Operator API*). */
  operator: Pick<OperatorService, 'sessions' | 'disconnect'>;
  /** How many TCP connections the pod keeps open (server.max_connections, or what the open-file limit leaves). */
  budget(): ConnectionBudget;
}

interface RequestContext {
  requestId: string;
  url: URL;
  /** The client address limits are counted against. */
  address: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => Promise<void> | void;

interface Route {
  method: string;
  handler: Handler;
}

const QUIET_PATHS = new Set(['/health', '/ready', '/metrics']);

/** The HTTP surface (docs/protocol.md, *HTTP*) on node:http, plus the WebSocket upgrade path. */
export function createHttpServer(deps: HttpDeps): Server {
  const routes = new Map<string, Route>([
    ['/health', { method: 'GET', handler: (_q, res) => sendJson(res, 200, { status: 'OK' }) }],
    ['/ready', { method: 'GET', handler: (_q, res) => ready(deps, res) }],
    ['/metrics', { method: 'GET', handler: (_q, res) => sendMetrics(res, deps.metrics.registry) }],
    ['/generate-token', { method: 'POST', handler: (req, res, ctx) => generateToken(deps, req, res, ctx) }],
    ['/admin/generate-token', { method: 'POST', handler: (req, res, ctx) => generateAdminToken(deps, req, res, ctx) }],
    ['/api/publish', { method: 'POST', handler: (req, res, ctx) => publish(deps, req, res, ctx) }],
    [
      '/api/sessions',
      { method: 'GET', handler: (req, res, ctx) => operatorCall(deps, 'sessions', listSessions, req, res, ctx) },
    ],
    [
      '/api/disconnect',
      { method: 'POST', handler: (req, res, ctx) => operatorCall(deps, 'disconnect', disconnect, req, res, ctx) },
    ],
  ]);
  // Node looks for requests over their time limits every 30 s by default: a slow request would
  // stay up to 30 s past app.read_timeout_seconds (one that sends nothing: see ConnectionGuard).
  const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => void handle(deps, routes, req, res));
  new ConnectionGuard({
    sockets: () => deps.budget().sockets,
    idlePerAddress: () => {
      const server = deps.config().server;
      return server.trust_proxy ? 0 : server.max_pending_connections_per_ip;
    },
    readTimeoutMs: () => Math.max(1, deps.config().app.read_timeout_seconds) * 1000,
  }).attach(server);
  server.on('upgrade', (req, socket, head) => void deps.ws.handleUpgrade(req, socket, head));
  applyLimits(server, deps.config());
  return server;
}

/** Server-level limits; called again on every reload. */
export function applyLimits(server: Server, cfg: Config): void {
  const app = cfg.app;
  server.keepAliveTimeout = app.idle_timeout_seconds * 1000;
  server.headersTimeout = Math.max(1, app.read_timeout_seconds) * 1000;
  server.requestTimeout = Math.max(1, app.read_timeout_seconds) * 1000;
}

async function handle(
  deps: HttpDeps,
  routes: Map<string, Route>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const started = process.hrtime.bigint();
  const requestId = requestIdOf(req);
  res.setHeader('X-Request-ID', requestId);
  const url = urlOf(req);
  const address = clientAddressOf(req, deps.config().server.trust_proxy);
  let refusal: GatewayError | undefined;
  try {
    await dispatch(deps, routes, req, res, { requestId, url, address });
  } catch (err) {
    const error = toGatewayError(err);
    if (error.httpStatus >= 500) deps.log.error({ err, request_id: requestId, path: url.pathname }, 'request failed');
    else refusal = error;
    if (!res.headersSent)
      sendError(res, error, error.code === ErrorCodes.PayloadTooLarge ? { Connection: 'close' } : {});
  }
  const ms = Math.round((Number(process.hrtime.bigint() - started) / 1e6) * 10) / 10;
  const fields = { request_id: requestId, method: req.method, path: url.pathname, status: res.statusCode, ms };
  if (refusal) return deps.refusals.refused('http', refusal.code, address, fields);
  deps.log[res.statusCode >= 500 ? 'error' : QUIET_PATHS.has(url.pathname) ? 'debug' : 'info'](fields, 'http request');
}

/** The request's URL; a target that is not a path (`GET http://x/`, `GET *`) is a path of its own. */
function urlOf(req: IncomingMessage): URL {
  try {
    return new URL(req.url ?? '/', 'http://gateway');
  } catch {
    return new URL('http://gateway/');
  }
}

async function dispatch(
  deps: HttpDeps,
  routes: Map<string, Route>,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const route = routes.get(ctx.url.pathname);
  if (route) {
    if (req.method !== route.method && !(route.method === 'GET' && req.method === 'HEAD')) {
      res.setHeader('Allow', route.method);
      throw new GatewayError(
        ErrorCodes.MethodNotAllowed,
        'Method not allowed',
        `Only ${route.method} method is allowed.`,
      );
    }
    return route.handler(req, res, ctx);
  }
  if (webSocketTargetOf(ctx.url.pathname)) {
    throw new GatewayError(ErrorCodes.BadRequest, 'WebSocket upgrade required', 'Connect with a WebSocket client.');
  }
  const file = req.method === 'GET' || req.method === 'HEAD' ? servedFile(deps, ctx.url.pathname) : undefined;
  if (file) return sendFile(req, res, file);
  throw new GatewayError(ErrorCodes.NotFound, 'Not found', `No route for ${req.method} ${ctx.url.pathname}`);
}

/** Which files are served: the client module always, the operator's page and the demo page when enabled. */
function servedFile(deps: HttpDeps, path: string): StaticFile | undefined {
  const app = deps.config().app;
  if (path === CLIENT_MODULE_PATH) return deps.staticFile?.(path);
  if (ADMIN_PAGE_PATHS.has(path)) return app.enable_admin_page ? deps.staticFile?.(path) : undefined;
  if (FAVICON_PATHS.has(path))
    return app.enable_admin_page || app.enable_demo_page ? deps.staticFile?.(path) : undefined;
  return app.enable_demo_page ? deps.staticFile?.(path) : undefined;
}

function sendFile(req: IncomingMessage, res: ServerResponse, file: StaticFile): void {
  const headers: Record<string, string | number> = {
    'Content-Type': file.type,
    ETag: file.etag,
    'Cache-Control': file.cacheable ? 'public, max-age=86400' : 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  };
  if (file.cacheable) headers['Access-Control-Allow-Origin'] = '*';
  if (file.type.startsWith('text/html')) {
    headers['Content-Security-Policy'] = PAGE_POLICY;
    headers['X-Frame-Options'] = 'DENY';
    headers['Cross-Origin-Opener-Policy'] = 'same-origin';
  }
  if (file.gzip) headers.Vary = 'Accept-Encoding';
  if (req.headers['if-none-match'] === file.etag) {
    res.writeHead(304, headers);
    return void res.end();
  }
  const [body, encoding] = encodingFor(req, file);
  if (encoding) headers['Content-Encoding'] = encoding;
  res.writeHead(200, { ...headers, 'Content-Length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The smallest form of the file the client accepts: brotli, gzip, or as it is. */
function encodingFor(req: IncomingMessage, file: StaticFile): [Buffer, string | undefined] {
  const accepted = acceptedEncodings(req.headers['accept-encoding']);
  if (file.br && accepted.has('br')) return [file.br, 'br'];
  if (file.gzip && accepted.has('gzip')) return [file.gzip, 'gzip'];
  return [file.body, undefined];
}

/** The codings of an Accept-Encoding header, less those given q=0. */
function acceptedEncodings(header: string | undefined): Set<string> {
  const accepted = new Set<string>();
  for (const part of (header ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name || params.some((p) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(p))) continue;
    accepted.add(name);
  }
  return accepted;
}

async function ready(deps: HttpDeps, res: ServerResponse): Promise<void> {
  sendReadiness(res, await deps.readiness());
}

async function generateToken(
  deps: HttpDeps,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const auth = deps.config().auth;
  if (!auth.token_generation_secret && deps.production && !auth.allow_client_key_minting) {
    throw new GatewayError(
      ErrorCodes.Forbidden,
      'Token minting is disabled',
      'In production /generate-token needs auth.token_generation_secret (or auth.allow_client_key_minting: true).',
    );
  }
  const given = clientApiKeyOf(req, ctx.url);
  const ring = auth.token_generation_secret ? ([auth.token_generation_secret] as const) : clientKeys(auth);
  await deps.limits.authenticate(ctx.address, () => checkClientKey(given, ring));
  const token = deps.minter.mintCompany(await readJson(req));
  sendJson(res, 200, { token });
}

/** The admin API key (header only), counted against the address when wrong. */
function authenticateAdmin(deps: HttpDeps, req: IncomingMessage, ctx: RequestContext): Promise<void> {
  return deps.limits.authenticate(ctx.address, () =>
    checkAdminKey(headerValue(req, 'x-api-key'), adminKeys(deps.config().auth)),
  );
}

async function generateAdminToken(
  deps: HttpDeps,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  await authenticateAdmin(deps, req, ctx);
  const token = deps.minter.mintAdmin(await readJson(req));
  sendJson(res, 200, { token });
}

type OperatorAction = (deps: HttpDeps, req: IncomingMessage, ctx: RequestContext) => Promise<{ complete: boolean }>;

/** An operator call: the admin key (counted against the address when wrong), then the action; every call counted. */
async function operatorCall(
  deps: HttpDeps,
  action: 'sessions' | 'disconnect',
  run: OperatorAction,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  let body: { complete: boolean };
  try {
    await authenticateAdmin(deps, req, ctx);
    body = await run(deps, req, ctx);
  } catch (err) {
    deps.metrics.operatorRequests.inc({ action, result: 'refused' });
    throw err;
  }
  deps.metrics.operatorRequests.inc({ action, result: body.complete ? 'complete' : 'incomplete' });
  sendJson(res, 200, body);
}

function listSessions(deps: HttpDeps, _req: IncomingMessage, ctx: RequestContext): Promise<{ complete: boolean }> {
  const { filter, limit } = parseSessionsQuery(ctx.url.searchParams);
  return deps.operator.sessions(filter, limit);
}

async function disconnect(deps: HttpDeps, req: IncomingMessage, ctx: RequestContext): Promise<{ complete: boolean }> {
  const { target, reason, blockSeconds } = parseDisconnect(await readJson(req));
  const result = await deps.operator.disconnect(target, reason, blockSeconds);
  const fields = {
    request_id: ctx.requestId,
    client_address: ctx.address,
    target,
    reason,
    block_seconds: blockSeconds,
  };
  deps.log.info(
    { ...fields, disconnected: result.disconnected, complete: result.complete },
    'operator disconnect requested',
  );
  return result;
}

async function publish(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
  if (!deps.config().app.enable_publish_api)
    throw new GatewayError(ErrorCodes.NotFound, 'Not found', 'The publish API is disabled (app.enable_publish_api).');
  await authenticateAdmin(deps, req, ctx);
  const request = parsePublishRequest(await readJson(req));
  // A stream that does not take it is the adapter's DependencyError: 503, try again.
  const { seq } = await deps.publish(request.subject, request.payload, ctx.requestId);
  sendJson(res, 200, { subject: request.subject, seq });
}
