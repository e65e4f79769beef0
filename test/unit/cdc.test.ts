import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { columnValue, parseArray, rowOf } from '../../src/adapters/postgres/column-values.js';
import { formatLsn, parseLsn } from '../../src/domain/lsn.js';
import type {
  CdcChange,
  CdcCheckpoint,
  CdcPublisher,
  CdcRecovery,
  ReplicationSlot,
  SlotEvent,
  SlotListener,
} from '../../src/domain/ports.js';
import { CdcBridge } from '../../src/services/cdc/cdc-bridge.js';
import { DEFAULT_TABLES } from '../../src/domain/cdc-tables.js';
import { routeOf } from '../../src/services/cdc/table-mapping.js';

describe('CDC: values, subjects, positions', () => {
  it('turns pgoutput text into JSON by type', () => {
    assert.equal(columnValue(20, '9007199254740993'), '9007199254740993', 'int8 beyond 2^53 stays a string');
    assert.equal(columnValue(20, '42'), 42);
    assert.equal(columnValue(1700, '12.50'), '12.50', 'numeric keeps its digits');
    assert.equal(columnValue(16, 't'), true);
    assert.deepEqual(columnValue(3802, '{"a": [1, {"b": null}]}'), { a: [1, { b: null }] });
    assert.equal(columnValue(17, '\\x68656c6c6f'), Buffer.from('hello').toString('base64'));
    assert.equal(columnValue(1184, '2026-12-07 10:00:00.5+00'), '2026-12-07T10:00:00.5Z');
    assert.equal(columnValue(1184, '2026-12-07 10:00:00+05:30'), '2026-12-07T10:00:00+05:30');
    assert.deepEqual(columnValue(1007, '{1,NULL,3}'), [1, null, 3]);
    assert.deepEqual(
      parseArray('{{"a b","c\\"d"},{e,f}}', (x) => x),
      [
        ['a b', 'c"d'],
        ['e', 'f'],
      ],
    );
  });

  it('fills an unchanged TOASTed value from the old row, and marks it when there is none', () => {
    const columns = [
      { name: 'id', typeOid: 25 },
      { name: 'big', typeOid: 25 },
    ];
    const after = [{ kind: 't' as const, text: '1' }, { kind: 'u' as const }];
    assert.deepEqual(rowOf(columns, after, { id: '1', big: 'kept' }), {
      row: { id: '1', big: 'kept' },
      unchangedToast: [],
    });
    assert.deepEqual(rowOf(columns, after), { row: { id: '1', big: null }, unchangedToast: ['big'] });
  });

  it('routes the seed tables of company schemas, and says why a row cannot be routed', () => {
    const route = (schema: string, table: string, record: Record<string, unknown>) =>
      routeOf('daisi_', DEFAULT_TABLES, schema, table, record as never);
    assert.deepEqual(route('daisi_acme', 'messages', { agent_id: 'a1', chat_id: 'c1', message_id: 'm1' }), {
      subject: 'wa.acme.a1.messages.c1',
      companyId: 'acme',
      agentId: 'a1',
      chatId: 'c1',
      messageId: 'm1',
    });
    assert.equal(
      (route('daisi_acme', 'chats', { agent_id: 'a1', chat_id: 'c1' }) as { subject: string }).subject,
      'wa.acme.a1.chats',
    );
    assert.deepEqual(route('public', 'chats', { agent_id: 'a1' }), { skip: 'unmapped' });
    assert.deepEqual(route('daisi_acme', 'audit', { agent_id: 'a1' }), { skip: 'unmapped' });
    assert.deepEqual(route('daisi_acme', 'chats', { agent_id: null }), { skip: 'missing_id', column: 'agent_id' });
    assert.deepEqual(route('daisi_acme', 'messages', { agent_id: 'a1', chat_id: 'x.y' }), {
      skip: 'invalid_id',
      column: 'chat_id',
    });
  });

  it('writes and reads LSNs as PostgreSQL does', () => {
    assert.equal(formatLsn(0x16b374d848n), '16/B374D848');
    assert.equal(parseLsn('16/B374D848'), 0x16b374d848n);
  });
});

/** The memory publisher acknowledges in microtasks: a turn of the event loop later, everything has settled. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

/** A slot that plays back a script, and records what the bridge confirmed. */
class ScriptedSlot implements ReplicationSlot {
  confirmed: bigint[] = [];
  /** Settles once the whole script was played and everything it caused settled. */
  readonly played: Promise<void>;
  private finish!: () => void;
  constructor(private readonly script: Array<SlotEvent | { kind: 'keepalive'; walEnd: bigint }>) {
    this.played = new Promise((resolve) => (this.finish = resolve));
  }
  async read(listener: SlotListener): Promise<void> {
    listener.started();
    for (const step of this.script) {
      if (step.kind === 'keepalive') {
        await settled(); // the server's keepalive comes once all is acknowledged
        listener.keepalive(step.walEnd);
      } else await listener.event(step);
    }
    await settled(); // the acknowledgements settle
    this.finish();
    throw new Error('script over');
  }
  confirm(lsn: bigint): void {
    this.confirmed.push(lsn);
  }
  async stop(): Promise<void> {}
}

/** A stream that holds what a previous run already published (recover()), and records the rest. */
class RecordingPublisher implements CdcPublisher {
  published: CdcChange[] = [];
  constructor(private readonly recovery: CdcRecovery) {}
  async prepare(): Promise<void> {}
  async recover(): Promise<CdcRecovery> {
    return this.recovery;
  }
  async publish(change: CdcChange): Promise<number> {
    this.published.push(change);
    return this.published.length;
  }
  async checkpoint(_slot: string, _c: CdcCheckpoint): Promise<void> {}
}

describe('CDC bridge: what it publishes again after a restart, and what it confirms', () => {
  const tx = (lsn: bigint, rows: number, end = lsn + 100n): SlotEvent[] => [
    { kind: 'begin', commitLsn: lsn, commitTime: '2026-12-07T10:00:00.000000Z' },
    ...Array.from({ length: rows }, (_, i) => ({
      kind: 'change' as const,
      schema: 'daisi_acme',
      table: 'chats',
      action: 'insert' as const,
      record: { chat_id: `c${i}`, agent_id: 'a1' },
      changes: null,
      unchangedToast: [],
    })),
    { kind: 'commit', commitLsn: lsn, endLsn: end, commitTime: '2026-12-07T10:00:00.000000Z' },
  ];

  it('skips what the stream holds: whole transactions up to the checkpoint, and the published part of the next', async () => {
    const slot = new ScriptedSlot([
      ...tx(0x100n, 2),
      ...tx(0x200n, 4),
      ...tx(0x300n, 1),
      { kind: 'keepalive', walEnd: 0x900n },
    ]);
    const publisher = new RecordingPublisher({
      checkpoint: { commitLsn: formatLsn(0x100n), seq: 10 },
      published: new Map([[formatLsn(0x200n), 1]]),
      lastSeq: 12,
    });
    const log = { info() {}, warn() {}, error() {}, debug() {}, level: 'info', isLevelEnabled: () => false };
    const hooks = { change() {}, skipped() {}, active() {}, lag() {}, commitToAck() {} };
    const options = {
      slotName: 's',
      schemaPrefix: 'daisi_',
      tables: DEFAULT_TABLES,
      window: 2,
      checkpointMs: 1000,
      maxLagBytes: 1e9,
    };
    const bridge = new CdcBridge(slot, publisher, options, hooks, log, Date.now);
    void bridge.run(); // it reads the script, fails at its end, and waits to start again: stopped below
    await slot.played;
    await bridge.stop();
    assert.deepEqual(
      publisher.published.map((c) => c.id),
      ['s:0/200:2', 's:0/200:3', 's:0/300:0'],
      'the checkpointed transaction and the first two changes of the next were there already',
    );
    assert.deepEqual(
      slot.confirmed.slice(0, 4),
      [0x100n + 100n, 0x200n + 100n, 0x300n + 100n, 0x900n],
      "each commit's end once its changes are acknowledged, then the idle keepalive's position",
    );
  });
});
