import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CdcHooks } from '../domain/metric-hooks.js';

/** The CDC bridge's metrics (docs/protocol.md, *Metrics*), on the process's registry. */
export function cdcMetrics(registry: Registry): CdcHooks {
  const registers = [registry];
  const changes = new Counter({
    name: 'dws_cdc_changes_total',
    help: 'Row changes the CDC bridge published and JetStream acknowledged.',
    labelNames: ['table', 'action'],
    registers,
  });
  const skipped = new Counter({
    name: 'dws_cdc_skipped_total',
    help: 'Row changes of mapped tables the CDC bridge could not form a subject for.',
    labelNames: ['table', 'reason'],
    registers,
  });
  const lag = new Gauge({
    name: 'dws_cdc_lag_bytes',
    help: 'WAL the slot holds that the bridge has not confirmed.',
    registers,
  });
  const active = new Gauge({ name: 'dws_cdc_active', help: '1 on the bridge that reads the slot.', registers });
  const commitToAck = new Histogram({
    name: 'dws_cdc_commit_to_ack_seconds',
    help: "From a transaction's commit to JetStream's acknowledgement of its last change.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  active.set(0);
  return {
    change: (table, action) => changes.inc({ table, action }),
    skipped: (table, reason) => skipped.inc({ table, reason }),
    active: (on) => active.set(on ? 1 : 0),
    lag: (bytes) => lag.set(bytes),
    commitToAck: (seconds) => commitToAck.observe(seconds),
  };
}
