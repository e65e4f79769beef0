import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { addressOfPeer } from '../../domain/addresses.js';
import { GrpcStatus } from '../../domain/errors.js';
import type { EventAddress } from '../../domain/events.js';
import type { Metrics } from '../../platform/metrics.js';
import { packageDefinition, packages, type PushEventRequest, type PushEventResponse } from './proto.js';
import { payloadJsonOf } from './payload-codec.js';

export interface GrpcServerOptions {
  host: string;
  port: number;
  reflection: boolean;
  /** Whether PushEvent is accepted from this peer address (SECURITY.md, *Limits*). */
  allowsPeer(address: string): Promise<boolean>;
  /** A PushEvent refused with PERMISSION_DENIED. */
  onRefused(address: string): void;
  /** Delivers a pushed event to local sessions (the dispatcher's acceptPushed); returns how many want it. */
  deliver(address: EventAddress, eventId: string, payloadJson: string): number;
  /** dws_grpc_messages_received_total and dws_grpc_pushes_total. */
  metrics: Pick<Metrics, 'grpcMessagesReceived' | 'grpcPushes' | 'sourcePodLabel'>;
}

export interface GrpcServer {
  readonly port: number;
  setServing(serving: boolean): void;
  shutdown(timeoutMs: number): Promise<void>;
}

const SERVING = 'SERVING';
const NOT_SERVING = 'NOT_SERVING';

export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const server = new grpc.Server();
  let status = SERVING;
  server.addService(packages.dws_message_fwd.MessageForwardingService.service, {
    PushEvent: pushEventHandler(options),
  });
  server.addService(packages.grpc.health.v1.Health.service, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (call.request.service)
        return callback({ code: GrpcStatus.NOT_FOUND, details: `unknown service ${call.request.service}` });
      callback(null, { status });
    },
    Watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
      call.write({ status: call.request.service ? 'SERVICE_UNKNOWN' : status });
    },
  });
  if (options.reflection) new ReflectionService(packageDefinition).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${options.host || '0.0.0.0'}:${options.port}`,
      grpc.ServerCredentials.createInsecure(),
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  );
  return {
    port,
    setServing: (serving) => {
      status = serving ? SERVING : NOT_SERVING;
    },
    shutdown: (timeoutMs) => shutdown(server, timeoutMs),
  };
}

function pushEventHandler(options: GrpcServerOptions) {
  return async (
    call: grpc.ServerUnaryCall<PushEventRequest, PushEventResponse>,
    callback: grpc.sendUnaryData<PushEventResponse>,
  ) => {
    const peer = addressOfPeer(call.getPeer());
    if (!(await options.allowsPeer(peer))) {
      options.onRefused(peer);
      return callback({
        code: GrpcStatus.PERMISSION_DENIED,
        details: `PushEvent is not accepted from ${peer} (grpc.allowed_peers)`,
      });
    }
    const req = call.request;
    if (!req.payload) {
      return callback({ code: GrpcStatus.INVALID_ARGUMENT, details: 'payload is required' });
    }
    const { metrics } = options;
    metrics.grpcMessagesReceived.inc({ source_pod_id: metrics.sourcePodLabel(req.source_pod_id) });
    // The Go service's target fields name the event's subject: a chat's messages, or the agent's chat list.
    const address: EventAddress = req.target_chat_id
      ? { kind: 'messages', companyId: req.target_company_id, agentId: req.target_agent_id, chatId: req.target_chat_id }
      : { kind: 'chats', companyId: req.target_company_id, agentId: req.target_agent_id };
    const delivered = options.deliver(address, req.payload.event_id, payloadJsonOf(req.payload));
    metrics.grpcPushes.inc({ outcome: delivered > 0 ? 'delivered' : 'no_session' });
    // Never `success: false` for a push it took: a Go pod NAKs the message then and JetStream redelivers
    // it at once, a loop (docs/compat.md, *Mixed fleets*). This pod reads the stream itself.
    callback(null, {
      success: true,
      message:
        delivered > 0
          ? `Event delivered to ${delivered} local session(s)`
          : 'No local session wants this event; handled: this pod reads the stream itself',
    });
  };
}

function shutdown(server: grpc.Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, timeoutMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

type HealthCheck = (
  request: { service: string },
  options: { deadline: number },
  callback: (err: Error | null, res: { status: string }) => void,
) => void;

/** Asks a gRPC health service (this pod's own, for /ready) for its overall status. */
export function checkGrpcHealth(address: string, timeoutMs: number): Promise<string> {
  const client = new packages.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  return new Promise<string>((resolve, reject) => {
    client.waitForReady(Date.now() + timeoutMs, (readyErr) => {
      if (readyErr) {
        client.close();
        return reject(readyErr);
      }
      (client as unknown as { Check: HealthCheck }).Check(
        { service: '' },
        { deadline: Date.now() + timeoutMs },
        (err: Error | null, res: { status: string }) => {
          client.close();
          if (err) reject(err);
          else resolve(res.status);
        },
      );
    });
  });
}
