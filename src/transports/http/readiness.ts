import type { ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { sendJson } from './http-io.js';

/**
 * What each dependency says when it does its job: Redis and NATS connected (or the embedded engine),
 * the gRPC server serving, the CDC bridge reading its slot or standing by to take it over.
 */
const READY_STATES: ReadonlySet<string> = new Set(['connected', 'embedded', 'serving', 'active', 'standby']);

export interface Readiness {
  ready: boolean;
  dependencies: Record<string, string>;
}

/** The one rule of /ready, for a pod and for the `daisi-ws cdc` process alike. */
export function readinessOf(dependencies: Record<string, string>): Readiness {
  return { ready: Object.values(dependencies).every((v) => READY_STATES.has(v)), dependencies };
}

export function sendReadiness(res: ServerResponse, r: Readiness): void {
  sendJson(res, r.ready ? 200 : 503, { status: r.ready ? 'READY' : 'NOT_READY', dependencies: r.dependencies });
}

export async function sendMetrics(res: ServerResponse, registry: Registry): Promise<void> {
  const text = await registry.metrics();
  res.writeHead(200, { 'Content-Type': registry.contentType });
  res.end(text);
}
