import type { Clock } from '../../domain/clock.js';
import { formatLsn, parseLsn } from '../../domain/lsn.js';
import { SlotInUse, SlotLost } from '../../domain/errors.js';
import type { TableMapping } from '../../domain/cdc-tables.js';
import type { CdcHooks } from '../../domain/metric-hooks.js';
import type {
  CdcPublisher,
  CdcRecovery,
  Logger,
  ReplicationSlot,
  SlotEvent,
  SlotListener,
} from '../../domain/ports.js';
import { routeOf } from './table-mapping.js';

export interface CdcBridgeOptions {
  slotName: string;
  schemaPrefix: string;
  tables: Readonly<Record<string, TableMapping>>;
  /** Changes sent to JetStream and not yet acknowledged, at most. */
  window: number;
  /** How often the checkpoint (the stream's record of the last whole transaction) is written. */
  checkpointMs: number;
  /** Beyond this lag `state` says lagging. */
  maxLagBytes: number;
}

const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 5000;

export type CdcState = 'starting' | 'active' | 'standby' | 'lagging' | 'slot_lost' | 'failing';

interface InFlight {
  /** Acknowledged (a commit: at once). */
  done: boolean;
  seq: number;
  after(seq: number): void;
}

interface Transaction {
  commitLsn: bigint;
  commitTime: string;
  lsnText: string;
  index: number;
  /** Changes up to this index are in the stream already (recovery); -1: none. */
  publishedUpTo: number;
}

/**
 * The CDC bridge (docs/architecture.md, *The front of the pipeline*): a PostgreSQL slot's row changes
 * to the `wa.*` stream, exactly once, in commit order.
 *
 * - Changes are published in order with at most `window` unacknowledged; a commit counts once every
 *   change before it is acknowledged, and only then does the slot's flush position move past it
 *   (to the commit's end). So the server resends, after any crash, only transactions that may be
 *   incomplete in the stream.
 * - Before reading, the bridge asks the stream what it already holds (recover(): the last checkpoint,
 *   and the bridge's changes after it, by their headers), and publishes only what is missing — so a
 *   resent transaction is never published twice, however long the bridge was down.
 * - Between transactions, with nothing unacknowledged, the server's keepalive position is confirmed:
 *   writes to tables outside the mapping, or none at all, do not pin WAL.
 * - A failure (NATS away, a refused publish, Postgres gone) ends the reading; once every change in
 *   flight has settled, the bridge recovers and reads again from the slot's flush position.
 */
export class CdcBridge {
  state: CdcState = 'starting';
  private stopped = false;
  private tx: Transaction | undefined;
  private recovery: CdcRecovery | undefined;
  /** Changes sent and commits read, in order, until everything before them is acknowledged. */
  private readonly inFlight: InFlight[] = [];
  /** Publishes not answered yet (acknowledged or failed). */
  private unsettled = 0;
  private roomWaiter: { resolve(): void; reject(err: unknown): void } | undefined;
  private settled: (() => void) | undefined;
  private lastSeq = 0;
  private lastWhole: { commitLsn: string; seq: number } | undefined;
  private written: string | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private confirmedEnd = 0n;
  private readonly saidSkip = new Set<string>();
  private backoff = FIRST_BACKOFF_MS;
  /** Why the current reading is being ended (a publish that failed), if it is. */
  private failure: unknown;

  constructor(
    private readonly slot: ReplicationSlot,
    private readonly publisher: CdcPublisher,
    private readonly options: CdcBridgeOptions,
    private readonly hooks: CdcHooks,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  /** Reads until stop(); each failure is logged once per kind and tried again. */
  async run(): Promise<void> {
    let said: string | undefined;
    while (!this.stopped) {
      try {
        this.failure = undefined;
        await this.publisher.prepare();
        this.recovery = await this.publisher.recover(this.options.slotName);
        this.lastSeq = this.recovery.lastSeq;
        this.checkpointTimer = setInterval(() => void this.writeCheckpoint(), this.options.checkpointMs);
        this.checkpointTimer.unref();
        await this.slot.read(this.listener());
        if (this.stopped) break;
        throw this.failure ?? new Error('the replication stream ended');
      } catch (caught) {
        const err = this.failure ?? caught;
        clearInterval(this.checkpointTimer);
        this.hooks.active(false);
        await this.settle();
        if (this.stopped) break;
        if (err instanceof SlotInUse) {
          if (this.state !== 'standby') this.log.info({ slot: this.options.slotName }, 'cdc: slot in use, standing by');
          this.state = 'standby';
          await sleep(1000);
          continue;
        }
        if (err instanceof SlotLost) {
          if (this.state !== 'slot_lost')
            this.log.error({ err, slot: this.options.slotName }, 'cdc: the slot was invalidated; recreate it by hand');
          this.state = 'slot_lost';
          await sleep(10_000);
          continue;
        }
        const message = (err as Error)?.message;
        if (message !== said) this.log.warn({ err }, 'cdc: reading stopped; starting again from the slot');
        said = message;
        this.state = 'failing';
        await sleep(this.backoff);
        this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.checkpointTimer);
    await this.slot.stop();
    await this.settle();
    await this.writeCheckpoint();
  }

  private listener(): SlotListener {
    return {
      started: () => {
        this.backoff = FIRST_BACKOFF_MS;
        if (this.state !== 'active')
          this.log.info(
            { slot: this.options.slotName, recovered: this.recovery?.published.size ?? 0 },
            'cdc: reading the slot',
          );
        this.state = 'active';
        this.hooks.active(true);
      },
      event: (event) => this.onEvent(event),
      keepalive: (walEnd) => {
        // Nothing open and nothing unacknowledged: everything the server sent is dealt with.
        if (!this.tx && this.inFlight.length === 0 && walEnd > this.confirmedEnd) {
          this.confirmedEnd = walEnd;
          this.slot.confirm(walEnd);
        }
        const lag = Number(walEnd > this.confirmedEnd ? walEnd - this.confirmedEnd : 0n);
        this.hooks.lag(lag);
        if (this.state === 'active' || this.state === 'lagging')
          this.state = lag > this.options.maxLagBytes ? 'lagging' : 'active';
      },
    };
  }

  private onEvent(event: SlotEvent): void | Promise<void> {
    switch (event.kind) {
      case 'begin': {
        const lsnText = formatLsn(event.commitLsn);
        const checkpoint = this.recovery?.checkpoint;
        const whole = checkpoint !== undefined && event.commitLsn <= parseLsn(checkpoint.commitLsn);
        this.tx = {
          commitLsn: event.commitLsn,
          commitTime: event.commitTime,
          lsnText,
          index: 0,
          publishedUpTo: whole ? Number.MAX_SAFE_INTEGER : (this.recovery?.published.get(lsnText) ?? -1),
        };
        return;
      }
      case 'change':
        return this.onChange(event);
      case 'commit': {
        const tx = this.tx;
        this.tx = undefined;
        if (!tx) return;
        this.recovery?.published.delete(tx.lsnText);
        const commitMs = Date.parse(event.commitTime);
        this.commitWhen(() => {
          // Every change of the transaction is in the stream: the server may forget it.
          this.lastWhole = { commitLsn: tx.lsnText, seq: this.lastSeq };
          if (event.endLsn > this.confirmedEnd) {
            this.confirmedEnd = event.endLsn;
            this.slot.confirm(event.endLsn);
          }
          if (tx.index > 0) this.hooks.commitToAck(Math.max(0, this.clock() - commitMs) / 1000);
        });
        return this.room();
      }
    }
  }

  private onChange(change: Extract<SlotEvent, { kind: 'change' }>): void | Promise<void> {
    const tx = this.tx;
    if (!tx) return;
    const index = tx.index++;
    const route = routeOf(this.options.schemaPrefix, this.options.tables, change.schema, change.table, change.record);
    if ('skip' in route) {
      if (route.skip !== 'unmapped') this.skip(change.table, route.skip, route.column);
      return;
    }
    if (index <= tx.publishedUpTo) return; // in the stream already (found at recovery)
    const id = `${this.options.slotName}:${tx.lsnText}:${index}`;
    const payload = {
      event_id: id,
      event_time: tx.commitTime,
      company_id: route.companyId,
      agent_id: route.agentId,
      ...(route.messageId !== undefined ? { message_id: route.messageId } : {}),
      ...(route.chatId !== undefined ? { chat_id: route.chatId } : {}),
      row_data: {
        action: change.action,
        record: change.record,
        changes: change.changes,
        metadata: {
          table_schema: change.schema,
          table_name: change.table,
          commit_lsn: tx.lsnText,
          commit_timestamp: tx.commitTime,
          ...(change.unchangedToast.length > 0 ? { unchanged_toast_columns: change.unchangedToast } : {}),
        },
      },
    };
    const sent = this.publisher.publish({
      subject: route.subject,
      data: Buffer.from(JSON.stringify(payload)),
      id,
      slot: this.options.slotName,
      commitLsn: tx.lsnText,
      index,
    });
    this.track(sent, (seq) => {
      this.lastSeq = seq;
      this.hooks.change(change.table, change.action);
    });
    return this.room();
  }

  /**
   * Runs `after` with what `work` resolved to once it and everything before it is acknowledged, in order. A
   * failure ends the reading: nothing after it counts (what follows is sent again after recovery).
   */
  private track(work: Promise<number>, after: (seq: number) => void): void {
    const entry: InFlight = { done: false, seq: 0, after };
    this.inFlight.push(entry);
    this.unsettled++;
    work.then(
      (seq) => {
        this.unsettled--;
        entry.done = true;
        entry.seq = seq;
        this.advance();
      },
      (err: unknown) => {
        this.unsettled--;
        // The first failure ends this reading; run() settles what is in flight and starts again.
        if (!this.failure) {
          this.failure = err;
          void this.slot.stop();
        }
        this.advance();
      },
    );
  }

  /** A commit: it counts once every change before it is acknowledged. */
  private commitWhen(after: () => void): void {
    this.inFlight.push({ done: true, seq: 0, after });
    this.advance();
  }

  /** Applies what is acknowledged at the head of the window; wakes the reading and settle() when they may go on. */
  private advance(): void {
    const queue = this.inFlight;
    while (!this.failure && queue.length > 0 && queue[0]!.done) {
      const entry = queue.shift()!;
      entry.after(entry.seq);
    }
    const waiter = this.roomWaiter;
    if (waiter && (this.failure || queue.length < this.options.window)) {
      this.roomWaiter = undefined;
      if (this.failure) waiter.reject(this.failure);
      else waiter.resolve();
    }
    if (this.unsettled === 0) this.settled?.();
  }

  /** Holds the slot's reading while `window` changes wait for their acknowledgement. */
  private room(): Promise<void> | undefined {
    if (this.inFlight.length < this.options.window) return undefined;
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.roomWaiter = { resolve, reject }));
  }

  /** Waits until nothing is in flight (failures included). */
  private async settle(): Promise<void> {
    if (this.unsettled > 0) await new Promise<void>((resolve) => (this.settled = resolve));
    this.settled = undefined;
    this.inFlight.length = 0;
    this.roomWaiter = undefined;
    this.tx = undefined;
  }

  private async writeCheckpoint(): Promise<void> {
    const whole = this.lastWhole;
    if (!whole || whole.commitLsn === this.written) return;
    try {
      await this.publisher.checkpoint(this.options.slotName, whole);
      this.written = whole.commitLsn;
    } catch (err) {
      this.log.debug({ err }, 'cdc: checkpoint not written; next time');
    }
  }

  private skip(table: string, reason: string, column: string): void {
    this.hooks.skipped(table, reason);
    const key = `${table}:${reason}:${column}`;
    if (this.saidSkip.has(key)) return;
    this.saidSkip.add(key);
    this.log.warn({ table, reason, column }, 'cdc: rows skipped (no subject can be formed); counted from now on');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
