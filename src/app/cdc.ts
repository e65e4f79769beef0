import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Registry } from 'prom-client';
import { MemoryCdcPublisher } from '../adapters/memory/cdc-publisher.js';
import { NatsCdcPublisher } from '../adapters/nats/cdc-publisher.js';
import { PgReplicationSlot } from '../adapters/postgres/replication-slot.js';
import { systemClock } from '../domain/clock.js';
import type { EventStream, Logger } from '../domain/ports.js';
import type { Config } from '../platform/config/schema.js';
import { cdcMetrics } from '../platform/cdc-metrics.js';
import { CdcBridge, type CdcState } from '../services/cdc/cdc-bridge.js';

/** How often the bridge tells Postgres where it stands, also when nothing changes. */
const STATUS_INTERVAL_MS = 1000;
const CHECKPOINT_MS = 500;

export interface CdcRunner {
  state(): CdcState;
  /** What /ready reports: the bridge's state, and NATS's when it has a connection of its own. */
  dependencies(): Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts the CDC bridge (docs/architecture.md, *The front of the pipeline*): the slot of
 * cdc.postgres_url into the pod's stream — the embedded node's own (`embedded`), or JetStream
 * through a NATS connection of the bridge's own.
 */
export async function startCdc(
  cfg: Config,
  log: Logger,
  registry: Registry,
  embedded?: EventStream,
): Promise<CdcRunner> {
  const c = cfg.cdc;
  if (!c.postgres_url) throw new Error('cdc: cdc.postgres_url (DAISI_WS_CDC_POSTGRES_URL) is not set');
  let nc: NatsConnection | undefined;
  if (!embedded) {
    nc = await connect({
      servers: cfg.nats.url.split(',').map((s) => s.trim()),
      name: `${cfg.app.service_name}-cdc`,
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      // An Error made at every request for its stack, kept or not: a fifth of the bridge's CPU (bench/cdc.ts).
      noAsyncTraces: true,
    });
  }
  const publisher = nc
    ? new NatsCdcPublisher(nc, {
        stream: cfg.nats.stream_name,
        checkpointStream: c.checkpoint_stream,
        replicas: cfg.nats.stream_replicas,
        createStream: cfg.nats.create_stream,
        republishPrefix: cfg.nats.read_mode === 'interest' ? cfg.nats.republish_prefix : undefined,
      })
    : new MemoryCdcPublisher(embedded!);
  const slot = new PgReplicationSlot({
    url: c.postgres_url,
    slot: c.slot_name,
    publication: c.publication_name,
    create: c.create_slot,
    statusIntervalMs: STATUS_INTERVAL_MS,
  });
  const bridge = new CdcBridge(
    slot,
    publisher,
    {
      slotName: c.slot_name,
      schemaPrefix: c.schema_prefix,
      tables: c.tables,
      window: c.publish_window,
      checkpointMs: CHECKPOINT_MS,
      maxLagBytes: c.max_lag_bytes,
    },
    cdcMetrics(registry),
    log,
    systemClock,
  );
  const running = bridge.run();
  log.info(
    { slot: c.slot_name, publication: c.publication_name, into: nc ? cfg.nats.stream_name : 'embedded' },
    'cdc bridge started',
  );
  return {
    state: () => bridge.state,
    dependencies: () => ({
      cdc: bridge.state,
      ...(nc ? { nats: nc.isClosed() ? 'disconnected' : 'connected' } : {}),
    }),
    stop: async () => {
      await bridge.stop();
      await running;
      await nc?.drain().catch(() => undefined);
    },
  };
}
