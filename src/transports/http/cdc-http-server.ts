import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { ErrorCodes, GatewayError } from '../../domain/errors.js';
import { sendError, sendJson } from './http-io.js';
import { readinessOf, sendMetrics, sendReadiness } from './readiness.js';

/** The `daisi-ws cdc` process's HTTP (README, *Change data capture*): /health, /ready, /metrics. */
export function createCdcHttpServer(dependencies: () => Record<string, string>, registry: Registry): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') return sendJson(res, 200, { status: 'OK' });
    if (path === '/ready') return sendReadiness(res, readinessOf(dependencies()));
    if (path === '/metrics') return void sendMetrics(res, registry);
    sendError(res, new GatewayError(ErrorCodes.NotFound, 'Not found', `No route for ${req.method} ${path}`));
  });
}
