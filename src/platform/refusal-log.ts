import { BoundedMap } from '../domain/bounded-map.js';
import type { Logger } from '../domain/ports.js';
import type { Metrics } from './metrics.js';
import { systemClock, type Clock } from '../domain/clock.js';

const MINUTE_MS = 60_000;

export type Surface = 'http' | 'websocket' | 'grpc';

/**
 * Refused requests, upgrades and pushes: every one is counted (dws_refusals_total{surface,code})
 * and logged at debug; one line per minute per class and address is logged at info, with how
 * many were left out since, so that a flood of bad keys cannot flood the log.
 */
export class RefusalLog {
  private readonly lastLine = new BoundedMap<{ at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly now: Clock = systemClock,
  ) {}

  refused(surface: Surface, code: string, address: string, fields: Record<string, unknown>): void {
    this.metrics.refusals.inc({ surface, code });
    const key = `${surface}|${code}|${address}`;
    const now = this.now();
    const last = this.lastLine.get(key);
    const line = { ...fields, surface, code, client_address: address };
    if (last && now - last.at < MINUTE_MS) {
      last.suppressed += 1;
      this.log.debug(line, 'refused');
      return;
    }
    this.lastLine.delete(key);
    this.lastLine.set(key, { at: now, suppressed: 0 });
    this.log.info({ ...line, suppressed_last_minute: last?.suppressed ?? 0 }, 'refused');
  }
}
