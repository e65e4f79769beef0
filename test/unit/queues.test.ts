import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { payloadJsonOf } from '../../src/transports/grpc/payload-codec.js';
import { eventFrame } from '../../src/domain/events.js';
import { EventHistory } from '../../src/services/event-history.js';
import { pushRequestOf } from '../helpers/go-replica.js';
import { SendQueue } from '../../src/transports/ws/send-queue.js';

/** A socket whose buffer fills with every frame until the test lets it drain. */
function fakeSocket(bytesPerFrame = 70 * 1024, capacity = 10, policy: 'drop_oldest' | 'block' = 'drop_oldest') {
  const written: string[] = [];
  const dropped: string[] = [];
  let buffered = 0;
  const waits = { count: 0 };
  return {
    written,
    dropped,
    waits,
    sink: {
      awaitDrain: () => void waits.count++,
      capacity: () => capacity,
      policy: () => policy,
      bufferedAmount: () => buffered,
      write: (frame: Buffer) => {
        written.push(frame.toString());
        buffered += bytesPerFrame;
      },
      dropped: (reason: string) => void dropped.push(reason),
    },
    drain: (q: SendQueue) => {
      buffered = 0;
      q.drained();
    },
  };
}

describe('SendQueue', () => {
  it('writes straight through while the socket has room', () => {
    const socket = fakeSocket(10, 2, 'drop_oldest');
    const q = new SendQueue(socket.sink);
    for (const n of [1, 2, 3, 4, 5]) q.push(Buffer.from(String(n)));
    assert.deepEqual(socket.written, ['1', '2', '3', '4', '5']);
    assert.equal(q.length, 0);
    assert.equal(socket.waits.count, 0, 'no frame waited, so no drain is awaited');
  });

  it('drops the oldest waiting frame when full (drop_oldest)', () => {
    const socket = fakeSocket(70 * 1024, 3, 'drop_oldest');
    const q = new SendQueue(socket.sink);
    for (const n of [1, 2, 3, 4, 5, 6]) q.push(Buffer.from(String(n)));
    // 1 went to the socket and filled it; 2 and 3 were dropped to make room for 5 and 6.
    assert.equal(q.length, 3);
    assert.ok(socket.waits.count > 0, 'frames wait, so the socket\'s drain is awaited');
    assert.deepEqual(socket.dropped, ['buffer_full_dropped_oldest', 'buffer_full_dropped_oldest']);
    for (let i = 0; i < 3; i++) socket.drain(q);
    assert.deepEqual(socket.written, ['1', '4', '5', '6']);
    assert.equal(q.length, 0);
  });

  it('makes the producer wait when full (block) and keeps every frame in order', async () => {
    const socket = fakeSocket(70 * 1024, 1, 'block');
    const q = new SendQueue(socket.sink);
    q.push(Buffer.from('1'));
    q.push(Buffer.from('2'));
    const blocked = q.push(Buffer.from('3'));
    assert.ok(blocked instanceof Promise);
    let resolved = false;
    void blocked.then(() => (resolved = true));
    await Promise.resolve();
    assert.equal(resolved, false);
    socket.drain(q);
    await blocked;
    socket.drain(q);
    assert.deepEqual(socket.written, ['1', '2', '3']);
    assert.deepEqual(socket.dropped, []);
  });

  it('reports since when data has been waiting, here or in the socket', () => {
    const socket = fakeSocket(70 * 1024, 10, 'drop_oldest');
    const q = new SendQueue(socket.sink);
    assert.equal(q.oldestAt(), undefined);
    q.push(Buffer.from('a'));
    q.observeSocket(1000);
    assert.equal(q.oldestAt(), 1000);
    q.push(Buffer.from('b'));
    q.observeSocket(5000);
    assert.equal(q.oldestAt(), 1000);
    socket.drain(q);
    socket.drain(q);
    q.observeSocket(6000);
    assert.equal(q.oldestAt(), undefined);
  });

  it('keeps each queue\'s waiting frames its own (an idle queue holds no array of its own)', () => {
    const slow = fakeSocket(70 * 1024, 10, 'drop_oldest');
    const fast = fakeSocket(10, 10, 'drop_oldest');
    const a = new SendQueue(slow.sink);
    const b = new SendQueue(fast.sink);
    const idle = new SendQueue(fakeSocket(70 * 1024, 10, 'drop_oldest').sink);
    a.push(Buffer.from('a1'));
    a.push(Buffer.from('a2'));
    a.push(Buffer.from('a3'));
    assert.equal(a.length, 2);
    assert.equal(b.length, 0);
    assert.equal(idle.length, 0);
    b.push(Buffer.from('b1'));
    assert.deepEqual(fast.written, ['b1']);
    slow.drain(a);
    slow.drain(a);
    assert.deepEqual(slow.written, ['a1', 'a2', 'a3']);
    assert.equal(idle.oldestAt(), undefined);
  });

  it('releases blocked producers when closed', async () => {
    const socket = fakeSocket(70 * 1024, 1, 'block');
    const q = new SendQueue(socket.sink);
    q.push(Buffer.from('1'));
    q.push(Buffer.from('2'));
    const blocked = q.push(Buffer.from('3'))!;
    q.close();
    await blocked;
    assert.deepEqual(socket.dropped, ['buffer_full_block_closed']);
  });
});

describe('EventHistory', () => {
  const p = (d: string) => Buffer.from(JSON.stringify({ d }));
  /** What a replay sees: [seq, subject, payload.d], each frame carrying its own seq. */
  const visit = (h: EventHistory, after: number) => {
    const out: Array<[number, string, string]> = [];
    h.forEach(after, (subject, frame, seq) => {
      const parsed = JSON.parse(frame.toString());
      assert.equal(parsed.seq, seq);
      out.push([seq, subject, parsed.payload.d]);
    });
    return out;
  };

  it('keeps the newest events up to its size, in order, and finds the ones after a sequence', () => {
    const h = new EventHistory(3, 60_000);
    for (let seq = 1; seq <= 5; seq++) h.append(seq * 10, `s${seq}`, p(`d${seq}`));
    assert.equal(h.firstSeq, 30);
    assert.deepEqual(visit(h, 0), [[30, 's3', 'd3'], [40, 's4', 'd4'], [50, 's5', 'd5']]);
    assert.deepEqual(visit(h, 35), [[40, 's4', 'd4'], [50, 's5', 'd5']]);
    assert.deepEqual(visit(h, 50), []);
  });

  it('frames an event with its sequence, and skips payloads that are not JSON objects', () => {
    const h = new EventHistory(5, 60_000);
    h.append(7, 's', p('x'));
    assert.equal(h.latest()!.toString(), '{"type":"event","seq":7,"payload":{"d":"x"}}');
    h.append(8, 's', Buffer.from('[1,2]'));
    assert.equal(h.latest(), null, 'not a JSON object');
    h.append(9, 's', Buffer.from('not json'));
    assert.deepEqual(visit(h, 0), [[7, 's', 'x']]);
    assert.equal(h.size, 3);
  });

  it('forgets events older than its age limit', () => {
    let now = 0;
    const h = new EventHistory(10, 1000, () => now);
    h.append(1, 's', p('a'));
    now = 600;
    h.append(2, 's', p('b'));
    now = 1200;
    assert.equal(h.firstSeq, 2);
    now = 1700;
    assert.equal(h.firstSeq, undefined);
  });

  it('copies the bytes it is given (the client library reuses its read buffer)', () => {
    const h = new EventHistory(2, 60_000);
    const buf = p('abc');
    h.append(1, 's', buf);
    buf.write('{"d":"xyz"}');
    assert.deepEqual(visit(h, 0), [[1, 's', 'abc']]);
  });

  it('keeps payloads of any size byte for byte as its byte ring wraps, grows and runs out of room', () => {
    // 300 events may take 300 KiB of ring: events of 0–3,000 bytes (and some of 70 KB, kept
    // outside the ring) overflow it, so the oldest go by bytes as well as by count.
    const h = new EventHistory(300, 600_000);
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const appended: Array<[number, string, string]> = [];
    for (let seq = 1; seq <= 5000; seq++) {
      const size = random() < 0.01 ? 70_000 : Math.floor(random() * 3000);
      const d = `${seq}:${'x'.repeat(size)}`;
      const subject = `s${Math.floor(random() * 7)}`;
      h.append(seq, subject, p(d));
      appended.push([seq, subject, d]);
      if (seq % 97 !== 0 && seq !== 5000) continue;
      const kept = visit(h, 0);
      assert.ok(kept.length > 0 && kept.length <= 300, `kept ${kept.length}`);
      assert.deepEqual(kept, appended.slice(-kept.length), `after ${seq}: the newest events, unchanged`);
      const inRing = kept.filter(([, , d]) => d.length < 60_000).reduce((n, [, , d]) => n + d.length + 8, 0);
      assert.ok(inRing <= 300 * 1024, `ring holds ${inRing} bytes`);
      const s3: number[] = [];
      h.forEachOf(['s3'], 0, (_s, frame, at) => {
        assert.equal(JSON.parse(frame.toString()).payload.d, appended[at - 1]![2]);
        s3.push(at);
      });
      assert.deepEqual(s3, kept.filter(([, subject]) => subject === 's3').map(([at]) => at));
    }
    assert.ok(visit(h, 0).length < 300, 'some went for lack of bytes, not count');
  });

  it('keeps every payload byte for byte when its ring grows after wrapping round', () => {
    // Events expire by age while they get larger: the oldest leave the start of the ring, the
    // newest wrap round to it, and the ring then fills and grows (256 KiB → 2 MiB) with its
    // payloads in two runs: the older at the ring's end, the newer wrapped round to its start.
    let now = 0;
    const h = new EventHistory(2000, 1000, () => now);
    const appended: Array<[number, string, string, number]> = [];
    for (let seq = 1; seq <= 4000; seq++) {
      now += 2;
      const d = `${seq}:${'y'.repeat(Math.min(3000, 100 + seq))}${seq % 499 === 0 ? 'z'.repeat(70_000) : ''}`;
      h.append(seq, `s${seq % 5}`, p(d));
      appended.push([seq, `s${seq % 5}`, d, now]);
      if (seq % 50 !== 0) continue;
      const kept = visit(h, 0);
      const expected = appended.filter(([, , , at]) => at >= now - 1000).map(([q, subject, text]) => [q, subject, text]);
      assert.deepEqual(kept, expected.slice(-kept.length), `after ${seq}: the newest events, unchanged`);
      assert.ok(kept.length >= Math.min(expected.length, 400), `after ${seq}: kept ${kept.length} of the ${expected.length} within the age`);
    }
  });

  it('knows an event by subject and event_id within a window', () => {
    let now = 0;
    const h = new EventHistory(10, 600_000, () => now);
    h.append(1, 'wa.c.a.chats', Buffer.from('{"event_id":"e1"}'));
    h.append(2, 'wa.c.a.messages.k', Buffer.from('{"event_id":"e2"}'));
    assert.equal(h.has('wa.c.a.chats', 'e1', 1000), true);
    assert.equal(h.has('wa.c.a.chats', 'e2', 1000), false);
    now = 2000;
    assert.equal(h.has('wa.c.a.chats', 'e1', 1000), false);
  });

  it('walks one subject\'s events in stream order, also after its older ones were dropped and their slots reused', () => {
    const h = new EventHistory(6, 60_000);
    const of = (subjects: string[], after: number) => {
      const out: number[] = [];
      h.forEachOf(subjects, after, (_s, _d, seq) => out.push(seq));
      return out;
    };
    for (let seq = 1; seq <= 10; seq++) h.append(seq, seq % 3 === 0 ? 'x' : 'y', p(String(seq)));
    // held: 5..10; x at 6 and 9, y at 5, 7, 8, 10
    assert.deepEqual(of(['x'], 0), [6, 9]);
    assert.deepEqual(of(['y'], 6), [7, 8, 10]);
    assert.deepEqual(of(['x', 'y'], 4), [5, 6, 7, 8, 9, 10]);
    assert.deepEqual(of(['z'], 0), []);
    for (let seq = 11; seq <= 16; seq++) h.append(seq, 'y', p(String(seq)));
    assert.deepEqual(of(['x'], 0), [], 'x\'s slots were reused by y');
    assert.deepEqual(of(['y'], 0), [11, 12, 13, 14, 15, 16]);
  });

  it('keeps the newest events when it is made smaller', () => {
    const h = new EventHistory(5, 60_000);
    for (let seq = 1; seq <= 5; seq++) h.append(seq, 's', p(String(seq)));
    h.resize(2, 60_000);
    assert.deepEqual(visit(h, 0), [[4, 's', '4'], [5, 's', '5']]);
    h.append(6, 's', p('6'));
    assert.deepEqual(visit(h, 0).map(([seq]) => seq), [5, 6]);
  });
});

describe('event frame', () => {
  it('carries the sequence and the producer bytes unchanged', () => {
    const payload = '{"event_id":"x","row_data":{"n":1.50,"s":"\u00e9"},"extra":[1]}';
    const frame = eventFrame(Buffer.from(payload), 42).toString();
    assert.equal(frame, `{"type":"event","seq":42,"payload":${payload}}`);
    assert.deepEqual(JSON.parse(frame).payload, JSON.parse(payload));
    assert.equal(eventFrame(payload).toString(), `{"type":"event","payload":${payload}}`);
  });
});

describe('PushEvent payload codec', () => {
  it('round-trips an event through the proto shape in the seed field order', () => {
    const payload = { row_data: { a: 1, b: 'x', c: [true, null], d: { e: 2.5 } }, event_id: 'e1', company_id: 'c', chat_id: 'k', event_time: 't' };
    const req = pushRequestOf({ companyId: 'c', agentId: 'a', chatId: 'k' }, payload, 'pod-1');
    assert.equal(req.source_pod_id, 'pod-1');
    assert.equal(
      payloadJsonOf(req.payload!),
      '{"event_id":"e1","event_time":"t","company_id":"c","chat_id":"k","row_data":{"a":1,"b":"x","c":[true,null],"d":{"e":2.5}}}',
    );
  });
});
