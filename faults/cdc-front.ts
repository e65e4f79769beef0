// The front of the pipeline in a fault row (issue 38): the load commits rows in a PostgreSQL of the
// row's own, two `daisi-ws cdc` bridges (one reads the slot, one stands by) publish them to the row's
// nats-server, and the pods deliver them. At the end the whole stream is read: it must hold every
// committed row once, in commit order, and nothing else — then the clients are checked as in any row.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { TestPostgres } from '../support/postgres-server.js';
import { createCompanySchema, readWholeStream, spawnCdc, type CdcProcess } from '../test/helpers/cdc.js';
import type { FaultEnv, Published } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BRIDGE_HOSTS = ['127.0.0.20', '127.0.0.21'];

export class CdcFront {
  readonly bridges: CdcProcess[] = [];

  private constructor(
    readonly postgres: TestPostgres,
    readonly env: FaultEnv,
  ) {}

  static async start(env: FaultEnv): Promise<CdcFront> {
    const front = new CdcFront(await TestPostgres.start(), env);
    for (const host of BRIDGE_HOSTS) front.bridges.push(await front.spawn(host));
    await front.waitForStates(['active', 'standby']);
    return front;
  }

  /** The index of the bridge that reads the slot. */
  async active(): Promise<number> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const states = await this.states();
      const i = states.indexOf('active');
      if (i >= 0) return i;
      if (Date.now() > deadline) throw new Error(`no bridge reads the slot (${states.join(', ')})`);
      await sleep(100);
    }
  }

  /** Bridge `i` killed with SIGKILL and started again (it comes back as the standby, or reads again). */
  async restart(i: number): Promise<void> {
    await this.bridges[i]!.kill('SIGKILL');
    this.bridges[i] = await this.spawn(BRIDGE_HOSTS[i]!);
  }

  /** How many messages the stream holds now. */
  async streamMessages(): Promise<number> {
    const nc = await connect({ servers: this.env.natsUrl });
    try {
      return (await (await jetstreamManager(nc)).streams.info('wa_stream')).state.messages;
    } finally {
      await nc.close();
    }
  }

  async kill(i: number): Promise<void> {
    await this.bridges[i]!.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    await Promise.all(this.bridges.map((b) => b.kill('SIGKILL')));
    await this.postgres.destroy();
  }

  private spawn(host: string): Promise<CdcProcess> {
    return spawnCdc(host, {
      DAISI_WS_NATS_URL: this.env.natsUrl,
      DAISI_WS_NATS_STREAM_NAME: 'wa_stream',
      DAISI_WS_CDC_POSTGRES_URL: this.postgres.url,
    });
  }

  private states(): Promise<string[]> {
    return Promise.all(
      this.bridges.map((b) =>
        fetch(`${b.http}/ready`).then(
          async (r) => String(((await r.json()) as { dependencies: { cdc: string } }).dependencies.cdc),
          () => 'down',
        ),
      ),
    );
  }

  private async waitForStates(wanted: string[]): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const states = (await this.states()).sort();
      if (wanted.every((s, i) => states[i] === s)) return;
      if (Date.now() > deadline) throw new Error(`the bridges are ${states.join(', ')}, not ${wanted.join(', ')}`);
      await sleep(100);
    }
  }
}

/**
 * Commits one row per event at a steady rate — into `chats` or `messages` of the company the
 * subject names — and says at the end what the stream made of them. A row whose commit may or may
 * not have happened (Postgres went away) is tried again under the same id: `ON CONFLICT DO NOTHING`
 * makes it one row, and the database, not the load, says what was committed.
 */
export class CdcLoad {
  private running = false;
  private loop: Promise<void> | undefined;
  private db: pg.Client | undefined;
  private readonly companies = new Set<string>();
  /** What the stream should hold that it does not, or holds twice or out of order. */
  readonly problems: string[] = [];

  constructor(private readonly front: CdcFront) {}

  async start(subjects: string[], perSecond: number): Promise<void> {
    const db = await this.connection();
    for (const subject of subjects) {
      const company = subject.split('.')[1]!;
      if (!this.companies.has(company)) await createCompanySchema(db, company);
      this.companies.add(company);
    }
    this.running = true;
    this.loop = (async () => {
      const started = Date.now();
      for (let i = 0; this.running; i++) {
        const wait = started + (i * 1000) / perSecond - Date.now();
        if (wait > 0) await sleep(wait);
        while (!(await this.commit(subjects[i % subjects.length]!, `ev-${i}`))) await sleep(200);
      }
    })();
  }

  /** Stops committing; resolves with the stream's events once it holds every committed row. */
  async stop(): Promise<Published[]> {
    this.running = false;
    await this.loop;
    const committed = await this.committedIds();
    await this.db?.end().catch(() => undefined);
    const deadline = Date.now() + 60_000;
    let changes = await readWholeStream(this.natsUrl, 'wa_stream');
    while (changes.length < committed.size && Date.now() < deadline) {
      await sleep(500);
      changes = await readWholeStream(this.natsUrl, 'wa_stream');
    }
    this.check(committed, changes);
    return changes.map((c) => ({
      subject: c.subject,
      id: c.event.event_id,
      text: JSON.stringify(c.event),
      seq: c.seq,
      sentAt: Date.parse(String(c.event.event_time)),
    }));
  }

  private get natsUrl(): string {
    return this.front.env.natsUrl;
  }

  private check(committed: Set<string>, changes: Awaited<ReturnType<typeof readWholeStream>>): void {
    const seen = new Map<string, number>();
    let previous = -1n;
    let outOfOrder = 0;
    for (const c of changes) {
      const record = c.event.row_data.record;
      const id = String(record.message_id ?? record.chat_id);
      seen.set(id, (seen.get(id) ?? 0) + 1);
      const [, lsn, index] = c.event.event_id.split(':');
      const [hi, lo] = lsn!.split('/');
      const position = ((BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)) * 10_000_000n + BigInt(index!);
      if (position <= previous) outOfOrder++;
      previous = position;
    }
    const missing = [...committed].filter((id) => !seen.has(id));
    const twice = [...seen].filter(([, n]) => n > 1).length;
    const extra = [...seen.keys()].filter((id) => !committed.has(id)).length;
    if (missing.length) this.problems.push(`the stream lacks ${missing.length} committed rows (${missing[0]}…)`);
    if (twice) this.problems.push(`the stream holds ${twice} rows twice`);
    if (extra) this.problems.push(`the stream holds ${extra} rows never committed`);
    if (outOfOrder) this.problems.push(`the stream holds ${outOfOrder} changes out of commit order`);
  }

  /** One transaction of `rows` messages to a chat no session views, on a connection of its own. */
  async bulk(rows: number): Promise<void> {
    const db = new pg.Client(this.front.postgres.url);
    await db.connect();
    try {
      const company = [...this.companies][0]!;
      await db.query(
        `INSERT INTO "daisi_${company}".messages (message_id, chat_id, agent_id, body, message_date)
         SELECT 'bulk-' || g, 'bulk', 'bulk', 'fault', '2026-12-07' FROM generate_series(1, $1) g`,
        [rows],
      );
    } finally {
      await db.end();
    }
  }

  /** One row for `subject` (`wa.<company>.<agent>.chats` or `….messages.<chat>`); false: try again. */
  private async commit(subject: string, id: string): Promise<boolean> {
    const [, company, agent, kind, chat] = subject.split('.');
    const schema = `"daisi_${company}"`;
    try {
      const db = await this.connection();
      if (kind === 'chats')
        await db.query(
          `INSERT INTO ${schema}.chats (chat_id, agent_id, title) VALUES ($1, $2, 'fault') ON CONFLICT DO NOTHING`,
          [id, agent],
        );
      else
        await db.query(
          `INSERT INTO ${schema}.messages (message_id, chat_id, agent_id, body, message_date)
           VALUES ($1, $2, $3, 'fault', '2026-12-07') ON CONFLICT DO NOTHING`,
          [id, chat, agent],
        );
      return true;
    } catch {
      await this.db?.end().catch(() => undefined);
      this.db = undefined;
      return false;
    }
  }

  private async connection(): Promise<pg.Client> {
    if (this.db) return this.db;
    const db = new pg.Client({
      connectionString: this.front.postgres.url,
      connectionTimeoutMillis: 2000,
      query_timeout: 3000,
    });
    db.on('error', () => undefined);
    await db.connect();
    this.db = db;
    return db;
  }

  private async committedIds(): Promise<Set<string>> {
    for (;;) {
      try {
        const db = await this.connection();
        const ids = new Set<string>();
        for (const company of this.companies) {
          const { rows } = await db.query<{ id: string }>(
            `SELECT chat_id AS id FROM "daisi_${company}".chats UNION ALL SELECT message_id FROM "daisi_${company}".messages`,
          );
          for (const r of rows) ids.add(r.id);
        }
        return ids;
      } catch {
        this.db = undefined;
        await sleep(200);
      }
    }
  }
}
