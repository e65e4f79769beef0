import * as grpc from '@grpc/grpc-js';
import { GrpcStatus } from '../../domain/errors.js';
import type { ForwardOutcome, ForwardRequest, Forwarder } from '../../domain/ports.js';
import type { Metrics } from '../../app/metrics.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { packages, type PushEventRequest, type PushEventResponse } from './proto.js';
import { toPushEventRequest } from './payload-codec.js';

export interface ForwarderOptions {
  sourcePodId: string;
  grpcPort: number;
  timeoutMs: number;
  idleTimeoutMs: number;
  sweepIntervalMs: number;
  failThreshold: number;
  openMs: number;
}

export interface ForwarderEvents {
  circuitTripped(target: string): void;
  forwardFailed(target: string, err: unknown): void;
}

const RETRY_DELAY_MS = 200;
const RETRYABLE = new Set<number>([GrpcStatus.UNAVAILABLE, 4 /* DEADLINE_EXCEEDED */]);

type PushClient = grpc.Client & {
  PushEvent(req: PushEventRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: PushEventResponse) => void): void;
};

interface PoolEntry {
  client: PushClient;
  lastUsed: number;
}

/**
 * gRPC PushEvent to other pods (SPEC §6): a pooled client per target closed when idle, a circuit
 * breaker per target, a deadline per call and one retry after 200 ms on UNAVAILABLE or
 * DEADLINE_EXCEEDED. A pod is reached at `<pod_id>:<grpc_port>`.
 */
export class GrpcForwarder implements Forwarder {
  private readonly pool = new Map<string, PoolEntry>();
  private readonly breakers = new Map<string, CircuitBreaker>();
  /** One proto message per event, however many pods it goes to. */
  private readonly encoded = new WeakMap<ForwardRequest, PushEventRequest>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: ForwarderOptions, private readonly metrics: Metrics, private readonly events: ForwarderEvents) {
    this.sweeper = setInterval(() => this.closeIdle(), options.sweepIntervalMs);
    this.sweeper.unref();
  }

  async forward(targetPodId: string, request: ForwardRequest): Promise<ForwardOutcome> {
    const target = addressOf(targetPodId, this.options.grpcPort);
    const breaker = this.breakerOf(target);
    if (breaker.isOpen()) return 'unreachable';
    let message = this.encoded.get(request);
    if (!message) this.encoded.set(request, (message = toPushEventRequest(request, this.options.sourcePodId)));
    const md = new grpc.Metadata();
    if (request.requestId) md.set('request_id', request.requestId);
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.call(target, message, md);
        breaker.recordSuccess();
        this.metrics.grpcMessagesSent.inc({ target_pod_id: target });
        if (attempt > 0) this.metrics.grpcRetrySuccess.inc({ target_pod_id: target });
        return response.success ? 'delivered' : 'no_session';
      } catch (err) {
        this.metrics.grpcPoolErrors.inc({ target_pod_id: target });
        if (breaker.recordFailure()) this.trip(target);
        const retryable = RETRYABLE.has((err as grpc.ServiceError).code);
        if (attempt === 0 && retryable && !breaker.isOpen()) {
          this.metrics.grpcRetryAttempts.inc({ target_pod_id: target });
          await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
          continue;
        }
        this.metrics.grpcRetryFailure.inc({ target_pod_id: target });
        if (breaker.isOpen()) return 'unreachable';
        this.events.forwardFailed(target, err);
        return 'failed';
      }
    }
  }

  reset(targetPodId: string): void {
    this.breakers.get(addressOf(targetPodId, this.options.grpcPort))?.recordSuccess();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const target of [...this.pool.keys()]) this.drop(target, 'shutdown');
  }

  private call(target: string, message: PushEventRequest, md: grpc.Metadata): Promise<PushEventResponse> {
    const entry = this.clientOf(target);
    entry.lastUsed = Date.now();
    return new Promise((resolve, reject) =>
      entry.client.PushEvent(message, md, { deadline: Date.now() + this.options.timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
  }

  private clientOf(target: string): PoolEntry {
    let entry = this.pool.get(target);
    if (!entry) {
      const Client = packages.dws_message_fwd.MessageForwardingService;
      entry = { client: new Client(target, grpc.credentials.createInsecure()) as unknown as PushClient, lastUsed: Date.now() };
      this.pool.set(target, entry);
      this.metrics.grpcPoolCreated.inc();
      this.metrics.grpcPoolSize.set(this.pool.size);
    }
    return entry;
  }

  private breakerOf(target: string): CircuitBreaker {
    let breaker = this.breakers.get(target);
    if (!breaker) {
      breaker = new CircuitBreaker(this.options.failThreshold, this.options.openMs);
      this.breakers.set(target, breaker);
    }
    return breaker;
  }

  private trip(target: string): void {
    this.metrics.grpcCircuitTripped.inc({ target_pod_id: target });
    this.drop(target, 'circuit_trip');
    this.events.circuitTripped(target);
  }

  private drop(target: string, reason: string): void {
    const entry = this.pool.get(target);
    if (!entry) return;
    entry.client.close();
    this.pool.delete(target);
    this.metrics.grpcPoolClosed.inc({ reason });
    this.metrics.grpcPoolSize.set(this.pool.size);
  }

  private closeIdle(): void {
    const cutoff = Date.now() - this.options.idleTimeoutMs;
    for (const [target, entry] of this.pool) if (entry.lastUsed < cutoff) this.drop(target, 'idle');
  }
}

export function addressOf(podId: string, port: number): string {
  return podId.includes(':') && !podId.startsWith('[') ? `[${podId}]:${port}` : `${podId}:${port}`;
}
