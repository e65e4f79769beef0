import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { MemoryEventStream } from '../../src/adapters/memory/event-stream.js';
import { loadConfig } from '../../src/platform/config/load.js';
import { Metrics } from '../../src/platform/metrics.js';
import { DeliveryPosition } from '../../src/services/delivery-position.js';
import { EventDispatcher } from '../../src/services/event-dispatcher.js';
import { EventHistory } from '../../src/services/event-history.js';
import { ResumeService } from '../../src/services/resume.js';
import type { Session } from '../../src/services/session.js';
import { SessionRegistry } from '../../src/services/session-registry.js';

const NOW = 1_000_000;
const silent = pino({ level: 'silent' });

/** A pod on the memory engine: its stream, dispatcher, history and resume service, with a fixed clock. */
async function pod(env: Record<string, string> = {}) {
  const { config } = loadConfig({ cwd: '/', env });
  const registry = new SessionRegistry();
  const history = new EventHistory({ maxEvents: 1000, maxAgeMs: 60_000, maxBytes: 1024 * 1024 }, () => NOW);
  const dispatcher = new EventDispatcher({
    registry,
    history,
    metrics: new Metrics(false).deliveryHooks(),
    log: silent,
    now: () => NOW,
  });
  const stream = new MemoryEventStream();
  await stream.start(dispatcher);
  const resumed: string[] = [];
  const resume = new ResumeService({
    stream,
    metrics: { resumed: (source) => void resumed.push(source) },
    history,
    position: () => dispatcher.position,
    config: () => config,
    log: silent,
    now: () => NOW,
  });
  const publish = (subject: string, id: string) =>
    stream.publish(subject, Buffer.from(JSON.stringify({ event_id: id })));
  return { registry, resume, stream, publish, resumed };
}

/** A session of user u of agent a that records every frame it is sent: `event:<id>`, or the frame's type. */
function session(agent = 'a'): Session & { frames: string[] } {
  const frames: string[] = [];
  const record = (frame: Buffer) => {
    const f = JSON.parse(frame.toString()) as { type: string; payload: Record<string, unknown> };
    frames.push(f.type === 'event' ? `event:${f.payload.event_id}` : `${f.type}:${JSON.stringify(f.payload)}`);
  };
  return {
    frames,
    id: 1,
    key: `session:c:${agent}:u`,
    identity: { kind: 'user', companyId: 'c', agentId: agent, userId: 'u' },
    chatId: undefined,
    connectedAt: NOW,
    lastActivityMs: NOW,
    position: new DeliveryPosition(),
    isOpen: true,
    deliver: record,
    sendUnbounded: record,
    whenWritable: () => undefined,
    terminate() {},
  };
}

describe('ResumeService (services/resume.ts), on the memory engine', () => {
  it('a resume at connect: the session’s events after `since`, `resumed`, then live with no gap and no duplicate', async () => {
    const { registry, resume, stream, publish, resumed } = await pod();
    await publish('wa.c.a.chats', 'e1');
    await publish('wa.c.a.chats', 'e2');
    await publish('wa.c.b.chats', 'other-agent');
    await publish('wa.c.a.chats', 'e4');
    await publish('wa.c.a.messages.k', 'no-chat-selected');
    await publish('wa.c.a.chats', 'e6');
    const s = session();
    const replay = resume.beginResume(s, 2);
    registry.add(s);
    await publish('wa.c.a.chats', 'e7'); // while the replay has not run: it waits for it
    await resume.run(s, replay, stream.epoch());
    await publish('wa.c.a.chats', 'e8');
    assert.deepEqual(s.frames, ['event:e4', 'event:e6', 'event:e7', 'resumed:{"from":4,"to":7,"count":3}', 'event:e8']);
    assert.deepEqual(resumed, ['memory']);
  });

  it('refuses with ResumeUnavailable, the session going on live: another epoch, a `since` beyond the stream', async () => {
    const { registry, resume, stream, publish } = await pod();
    await publish('wa.c.a.chats', 'e1');
    const other = session();
    registry.add(other);
    await resume.run(other, resume.beginResume(other, 0), 'another-epoch');
    const beyond = session('b');
    registry.add(beyond);
    await resume.run(beyond, resume.beginResume(beyond, 50), stream.epoch());
    await publish('wa.c.a.chats', 'e2');
    await publish('wa.c.b.chats', 'b2');
    const code = (frame: string) => (frame.startsWith('error:') ? JSON.parse(frame.slice(6)).code : frame);
    assert.deepEqual(other.frames.map(code), ['ResumeUnavailable', 'event:e2']);
    assert.deepEqual(beyond.frames.map(code), ['ResumeUnavailable', 'event:b2']);
  });

  it('a replay longer than app.resume_max_replay_events is refused before anything is sent', async () => {
    const { registry, resume, stream, publish } = await pod({ DAISI_WS_APP_RESUME_MAX_REPLAY_EVENTS: '3' });
    for (let i = 1; i <= 5; i++) await publish('wa.c.a.chats', `e${i}`);
    const s = session();
    registry.add(s);
    await resume.run(s, resume.beginResume(s, 0), stream.epoch());
    assert.equal(s.frames.length, 1);
    assert.match(s.frames[0]!, /^error:.*ResumeUnavailable/);
  });

  it('select_chat with `since`: the chat’s messages after it; past the per-minute bound, RateLimitExceeded and live', async () => {
    const { registry, resume, publish, stream } = await pod({ DAISI_WS_APP_RESUME_MAX_REPLAYS_PER_MINUTE: '1' });
    const s = session();
    resume.startLive(s);
    registry.add(s);
    await publish('wa.c.a.messages.k', 'm1');
    await publish('wa.c.a.messages.k', 'm2');
    const first = resume.beginSelect(s, 'k', 1);
    s.chatId = 'k';
    assert.ok(first.replay && !first.refused);
    await resume.run(s, first.replay, stream.epoch());
    assert.deepEqual(s.frames, ['event:m2', 'resumed:{"from":2,"to":2,"count":1}']);
    const second = resume.beginSelect(s, 'j', 0);
    assert.equal(second.refused?.code, 'RateLimitExceeded');
  });
});
