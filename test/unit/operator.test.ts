import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { MemoryKillSwitch } from '../../src/adapters/memory/kill-switch.js';
import { MemoryBlockStore, MemoryOperatorBus, MemoryPodDirectory } from '../../src/adapters/memory/operator.js';
import type { GatewayError } from '../../src/domain/errors.js';
import { OPERATOR_POD_ID } from '../../src/domain/operator.js';
import type { Identity } from '../../src/domain/session.js';
import { DeliveryPosition } from '../../src/services/delivery-position.js';
import { OperatorService } from '../../src/services/operator.js';
import type { Session } from '../../src/services/session.js';
import { SessionRegistry } from '../../src/services/session-registry.js';

const T0 = Date.parse('2026-12-07T12:00:00Z');

/** A pod's operator service on the memory adapters, its clock moved by the test. */
async function pod() {
  let now = T0;
  const registry = new SessionRegistry();
  const killSwitch = new MemoryKillSwitch();
  const kills: Array<[string, string]> = [];
  await killSwitch.listen((channel, message) => void kills.push([channel, message.new_pod_id]));
  const directory = new MemoryPodDirectory();
  const operator = new OperatorService({
    podId: 'pod-a',
    registry,
    bus: new MemoryOperatorBus(),
    directory,
    blocks: new MemoryBlockStore(),
    killSwitch,
    counts: () => ({ events: 0, frames: 0 }),
    log: pino({ level: 'silent' }),
    now: () => now,
  });
  await operator.start();
  let id = 0;
  /** A session that records how it was ended. */
  const connect = (identity: Identity, minutesAgo: number) => {
    const ended: string[] = [];
    const session = {
      id: ++id,
      identity,
      key: `k${id}`,
      chatId: undefined,
      connectedAt: T0 - minutesAgo * 60_000,
      lastActivityMs: T0,
      position: new DeliveryPosition(),
      isOpen: true,
      deliver() {},
      whenWritable: () => undefined,
      sendUnbounded() {},
      terminate: (error: GatewayError) => void ended.push(`${error.code}: ${error.message}`),
    } satisfies Session;
    registry.add(session);
    return ended;
  };
  return { operator, directory, kills, connect, advance: (ms: number) => (now += ms) };
}

const user = (agentId: string, userId: string): Identity => ({ kind: 'user', companyId: 'co', agentId, userId });

describe('OperatorService (services/operator.ts), on the memory adapters', () => {
  it('lists the sessions a filter matches, newest first, up to the limit', async () => {
    const { operator, connect } = await pod();
    connect(user('a1', 'u1'), 30);
    connect(user('a1', 'u2'), 10);
    connect(user('a2', 'u3'), 20);
    connect(
      { kind: 'admin', adminId: 'root', companyIdRestriction: '', subscribedCompanyId: '', subscribedAgentId: '' },
      5,
    );
    const listing = await operator.sessions({ companyId: 'co', agentId: 'a1' }, 1);
    assert.deepEqual(
      listing.sessions.map((s) => s.type === 'company' && s.user_id),
      ['u2'],
    );
    assert.equal(listing.truncated, true);
    assert.equal(listing.complete, true);
    assert.deepEqual(listing.pods, [
      { pod_id: 'pod-a', sessions: 4, answered: true, events_per_second: 0, frames_per_second: 0 },
    ]);
    const all = await operator.sessions({}, 10);
    assert.equal(all.sessions.length, 4);
    assert.equal(all.truncated, false);
  });

  it('a pod the directory knows that does not answer makes the listing incomplete, named', async () => {
    const { operator, directory } = await pod();
    await directory.announce('pod-b', T0);
    const listing = await operator.sessions({}, 10);
    assert.equal(listing.complete, false);
    assert.deepEqual(
      listing.pods.map((p) => [p.pod_id, p.answered]),
      [
        ['pod-a', true],
        ['pod-b', false],
      ],
    );
  });

  it('disconnect: the sessions it covers end with Disconnected, a block holds until it runs out, Go replicas are told', async () => {
    const { operator, connect, kills, advance } = await pod();
    const covered = connect(user('a1', 'u1'), 1);
    const other = connect(user('a2', 'u2'), 1);
    const result = await operator.disconnect(
      { kind: 'company', companyId: 'co', agentId: 'a1', userId: 'u1' },
      'abuse',
      60,
    );
    assert.equal(result.disconnected, 1);
    assert.deepEqual(covered, ['Disconnected: abuse']);
    assert.deepEqual(other, []);
    assert.deepEqual(kills, [['session_kill:co:a1:u1', OPERATOR_POD_ID]]);
    assert.equal(operator.blockOf(user('a1', 'u1'))?.reason, 'abuse');
    assert.equal(operator.blockOf(user('a1', 'u9')), undefined, 'the block names one user');
    advance(60_001);
    assert.equal(operator.blockOf(user('a1', 'u1')), undefined, 'over after 60 s');
  });

  it('a company-wide block covers every agent and user of it; no kill message (it names one user)', async () => {
    const { operator, connect, kills } = await pod();
    const ended = [connect(user('a1', 'u1'), 1), connect(user('a2', 'u2'), 1)];
    const result = await operator.disconnect({ kind: 'company', companyId: 'co' }, '', 30);
    assert.equal(result.disconnected, 2);
    assert.deepEqual(ended.flat(), [
      'Disconnected: Disconnected by an operator',
      'Disconnected: Disconnected by an operator',
    ]);
    assert.ok(operator.blockOf(user('a9', 'u9')));
    assert.deepEqual(kills, []);
  });
});
