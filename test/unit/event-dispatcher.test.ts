import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { pino } from 'pino';
import { DeliveryPosition } from '../../src/services/delivery-position.js';
import type { Session } from '../../src/services/session.js';
import { Metrics } from '../../src/platform/metrics.js';
import { EventDispatcher } from '../../src/services/event-dispatcher.js';
import { EventHistory } from '../../src/services/event-history.js';
import { ErrorCodes } from '../../src/domain/errors.js';
import { SessionRegistry } from '../../src/services/session-registry.js';

const SUBJECT = 'wa.c.a.chats';
const ADDRESS = { kind: 'chats', companyId: 'c', agentId: 'a' } as const;

/** The test's time: its clock and its timers move together (mock.timers), and only when told. */
const clock = { now: 1_000_000 };
function passes(ms: number): void {
  clock.now += ms;
  mock.timers.tick(ms);
}

/** A pod's dispatcher with one session of agent `a` that records the frames it is given. */
function pod(historyEvents: number) {
  const frames: string[] = [];
  const session = {
    id: 1,
    key: 'session:c:a:u',
    identity: { kind: 'user', companyId: 'c', agentId: 'a', userId: 'u' },
    chatId: undefined,
    position: new DeliveryPosition(),
    lastActivityMs: 0,
    isOpen: true,
    deliver: (frame: Buffer) => void frames.push(frame.toString()),
    sendUnbounded() {},
    terminate() {},
  } as unknown as Session;
  const registry = new SessionRegistry();
  registry.add(session);
  const history = new EventHistory(
    { maxEvents: historyEvents, maxAgeMs: 60_000, maxBytes: 1024 * 1024 },
    () => clock.now,
  );
  const dispatcher = new EventDispatcher({
    registry,
    history,
    metrics: new Metrics(false).deliveryHooks(),
    log: pino({ level: 'silent' }),
    now: () => clock.now,
  });
  return { dispatcher, frames, session, history, registry };
}

const payload = (id: string) => JSON.stringify({ event_id: id, row_data: { n: 1 } });

describe('EventDispatcher and pushes of Go replicas', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  for (const historyEvents of [100, 0]) {
    const kept = historyEvents > 0 ? 'with the history' : 'with no history kept (resume_max_events 0)';

    it(`shows an event pushed and then read once, with its seq, ${kept}`, async () => {
      const { dispatcher, frames } = pod(historyEvents);
      assert.equal(dispatcher.acceptPushed(ADDRESS, 'e1', payload('e1')), 1);
      dispatcher.deliver({ subject: SUBJECT, data: Buffer.from(payload('e1')), seq: 5 });
      passes(1001); // past the time a push is held
      assert.deepEqual(frames, [`{"type":"event","seq":5,"payload":${payload('e1')}}`]);
    });

    it(`shows an event read and then pushed once, ${kept}`, async () => {
      const { dispatcher, frames } = pod(historyEvents);
      dispatcher.deliver({ subject: SUBJECT, data: Buffer.from(payload('e2')), seq: 4 });
      assert.equal(dispatcher.acceptPushed(ADDRESS, 'e2', payload('e2')), 1);
      passes(1001);
      assert.deepEqual(frames, [`{"type":"event","seq":4,"payload":${payload('e2')}}`]);
    });

    it(`delivers a push the reading never brings, ${kept}`, async () => {
      const { dispatcher, frames } = pod(historyEvents);
      dispatcher.acceptPushed(ADDRESS, 'go-only', payload('go-only'));
      dispatcher.deliver({ subject: SUBJECT, data: Buffer.from(payload('other')), seq: 6 });
      passes(1001);
      assert.deepEqual(frames, [
        `{"type":"event","seq":6,"payload":${payload('other')}}`,
        `{"type":"event","payload":${payload('go-only')}}`,
      ]);
    });
  }

  it('drops a payload that is not a JSON object and delivers the next', async () => {
    const { dispatcher, frames } = pod(100);
    dispatcher.deliver({ subject: SUBJECT, data: Buffer.from('{"event_id":"x",}'), seq: 7 });
    dispatcher.deliver({ subject: SUBJECT, data: Buffer.from(payload('y')), seq: 8 });
    assert.deepEqual(frames, [`{"type":"event","seq":8,"payload":${payload('y')}}`]);
  });
});

describe('EventDispatcher and events lost in transit (interest reading)', () => {
  /** Events 7 (chat list) and 9 (chat k) come, then 8 of the chat list, lost in transit, read late; then 10. */
  function lateEvent(viewsChat: boolean) {
    const { dispatcher, frames, session, history, registry } = pod(100);
    if (viewsChat) registry.setChat(session, 'k');
    const errors: string[] = [];
    session.sendUnbounded = (frame: Buffer) => void errors.push(JSON.parse(frame.toString()).payload.code);
    dispatcher.deliver({ subject: SUBJECT, data: Buffer.from(payload('e7')), seq: 7 });
    dispatcher.deliver({ subject: 'wa.c.a.messages.k', data: Buffer.from(payload('e9')), seq: 9 });
    dispatcher.lostInTransit(SUBJECT, 8);
    dispatcher.deliver({ subject: SUBJECT, data: Buffer.from(payload('e8')), seq: 8 });
    dispatcher.deliver({ subject: SUBJECT, data: Buffer.from(payload('e10')), seq: 10 });
    return { dispatcher, history, errors, seqs: frames.map((f) => JSON.parse(f).seq as number) };
  }

  it('delivers the late event to a session not past it, in its order', () => {
    const { seqs, errors } = lateEvent(false);
    assert.deepEqual(seqs, [7, 8, 10]);
    assert.deepEqual(errors, []);
  });

  it('tells a session already past it to reload (its resume cursor cannot say "all but 8")', () => {
    const { seqs, errors } = lateEvent(true);
    assert.deepEqual(seqs, [7, 9, 10]);
    assert.deepEqual(errors, [ErrorCodes.ResumeUnavailable]);
  });

  it('keeps the late event out of the history, which starts again after the loss', () => {
    const { dispatcher, history } = lateEvent(false);
    assert.equal(dispatcher.position, 10);
    assert.equal(history.firstSeq, 10, 'a replay from before 10 reads the stream');
  });
});
