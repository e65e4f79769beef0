import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Config } from '../../app/config/schema.js';
import type { Logger } from '../../app/logger.js';
import type { Metrics } from '../../app/metrics.js';
import { ErrorCodes, GatewayError, toGatewayError } from '../../domain/errors.js';
import type { TokenMinter } from '../../services/token-minter.js';
import { WsEndpoint } from '../ws/ws-endpoint.js';
import { checkAdminKey, checkClientKey } from './api-keys.js';
import { headerValue, readJson, requestIdOf, sendError, sendJson } from './http-io.js';
import { parsePublishRequest } from './publish-request.js';

export interface Readiness {
  ready: boolean;
  dependencies: Record<string, string>;
}

export interface HttpDeps {
  config: () => Config;
  minter: TokenMinter;
  metrics: Metrics;
  log: Logger;
  ws: WsEndpoint;
  readiness(): Promise<Readiness>;
  publish(subject: string, payload: string, requestId: string): Promise<{ seq: number }>;
  /** Static files (the demo page); undefined when there is none. */
  staticFile?(path: string): { type: string; body: Buffer } | undefined;
}

type Handler = (req: IncomingMessage, res: ServerResponse, ctx: { requestId: string; url: URL }) => Promise<void> | void;

interface Route {
  method: string;
  handler: Handler;
}

const QUIET_PATHS = new Set(['/health', '/ready', '/metrics']);

/** The HTTP surface of SPEC §2 on node:http, plus the WebSocket upgrade path. */
export function createHttpServer(deps: HttpDeps): Server {
  const routes = new Map<string, Route>([
    ['/health', { method: 'GET', handler: (_q, res) => sendJson(res, 200, { status: 'OK' }) }],
    ['/ready', { method: 'GET', handler: (_q, res) => ready(deps, res) }],
    ['/metrics', { method: 'GET', handler: (_q, res) => metrics(deps, res) }],
    ['/generate-token', { method: 'POST', handler: (req, res, ctx) => generateToken(deps, req, res, ctx.url) }],
    ['/admin/generate-token', { method: 'POST', handler: (req, res) => generateAdminToken(deps, req, res) }],
    ['/api/publish', { method: 'POST', handler: (req, res, ctx) => publish(deps, req, res, ctx.requestId) }],
  ]);
  const server = createServer((req, res) => void handle(deps, routes, req, res));
  server.on('upgrade', (req, socket, head) => void deps.ws.handleUpgrade(req, socket, head));
  const app = deps.config().app;
  server.keepAliveTimeout = app.idle_timeout_seconds * 1000;
  server.headersTimeout = Math.max(1, app.read_timeout_seconds) * 1000;
  server.requestTimeout = Math.max(1, app.read_timeout_seconds) * 1000;
  return server;
}

async function handle(deps: HttpDeps, routes: Map<string, Route>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = process.hrtime.bigint();
  const requestId = requestIdOf(req);
  res.setHeader('X-Request-ID', requestId);
  const url = new URL(req.url ?? '/', 'http://gateway');
  try {
    await dispatch(deps, routes, req, res, { requestId, url });
  } catch (err) {
    const error = toGatewayError(err);
    if (error.httpStatus >= 500) deps.log.error({ err: (err as Error).message, request_id: requestId, path: url.pathname }, 'request failed');
    if (!res.headersSent) sendError(res, error);
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const level = res.statusCode >= 500 ? 'error' : QUIET_PATHS.has(url.pathname) ? 'debug' : 'info';
  deps.log[level]({ request_id: requestId, method: req.method, path: url.pathname, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'http request');
}

async function dispatch(deps: HttpDeps, routes: Map<string, Route>, req: IncomingMessage, res: ServerResponse, ctx: { requestId: string; url: URL }): Promise<void> {
  const route = routes.get(ctx.url.pathname);
  if (route) {
    if (req.method !== route.method && !(route.method === 'GET' && req.method === 'HEAD')) {
      res.setHeader('Allow', route.method);
      throw new GatewayError(ErrorCodes.MethodNotAllowed, 'Method not allowed', `Only ${route.method} method is allowed.`);
    }
    return route.handler(req, res, ctx);
  }
  if (WsEndpoint.targetOf(ctx.url.pathname)) {
    throw new GatewayError(ErrorCodes.BadRequest, 'WebSocket upgrade required', 'Connect with a WebSocket client.');
  }
  const file = req.method === 'GET' ? deps.staticFile?.(ctx.url.pathname) : undefined;
  if (file) {
    res.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length, 'Cache-Control': 'no-cache' });
    return void res.end(file.body);
  }
  throw new GatewayError(ErrorCodes.NotFound, 'Not found', `No route for ${req.method} ${ctx.url.pathname}`);
}

async function ready(deps: HttpDeps, res: ServerResponse): Promise<void> {
  const r = await deps.readiness();
  sendJson(res, r.ready ? 200 : 503, { status: r.ready ? 'READY' : 'NOT_READY', dependencies: r.dependencies });
}

async function metrics(deps: HttpDeps, res: ServerResponse): Promise<void> {
  const text = await deps.metrics.registry.metrics();
  res.writeHead(200, { 'Content-Type': deps.metrics.registry.contentType });
  res.end(text);
}

async function generateToken(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const auth = deps.config().auth;
  const given = headerValue(req, 'x-api-key') || url.searchParams.get('x-api-key') || undefined;
  checkClientKey(given, auth.token_generation_secret || auth.secret_token);
  const token = deps.minter.mintCompany(await readJson(req));
  sendJson(res, 200, { token });
}

async function generateAdminToken(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  checkAdminKey(headerValue(req, 'x-api-key'), deps.config().auth.admin_secret_token);
  const token = deps.minter.mintAdmin(await readJson(req));
  sendJson(res, 200, { token });
}

async function publish(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  checkAdminKey(headerValue(req, 'x-api-key'), deps.config().auth.admin_secret_token);
  const request = parsePublishRequest(await readJson(req));
  let seq: number;
  try {
    ({ seq } = await deps.publish(request.subject, request.payload, requestId));
  } catch (err) {
    throw new GatewayError(ErrorCodes.ServiceUnavailable, 'Event stream unavailable', 'The event could not be published; try again.', { cause: err });
  }
  sendJson(res, 200, { subject: request.subject, seq });
}
