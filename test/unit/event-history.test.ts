import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventFrame } from '../../src/domain/frames.js';
import { EventHistory, type HistoryLimits } from '../../src/services/event-history.js';

const MiB = 1024 * 1024;
const limits = (maxEvents: number, maxAgeMs = 60_000, maxBytes = 64 * MiB): HistoryLimits => ({
  maxEvents,
  maxAgeMs,
  maxBytes,
});
const p = (d: string) => Buffer.from(JSON.stringify({ d }));

/** What a replay sees: [seq, subject, payload.d], each frame carrying its own seq. */
function visit(h: EventHistory, after: number): Array<[number, string, string]> {
  const out: Array<[number, string, string]> = [];
  h.forEach(after, (subject, frame, seq) => {
    const parsed = JSON.parse(frame.toString());
    assert.equal(parsed.seq, seq);
    out.push([seq, subject, parsed.payload.d]);
  });
  return out;
}

describe('EventHistory', () => {
  it('keeps the newest events up to its size, in order, and finds the ones after a sequence', () => {
    const h = new EventHistory(limits(3));
    for (let seq = 1; seq <= 5; seq++) h.append(seq * 10, `s${seq}`, p(`d${seq}`));
    assert.equal(h.firstSeq, 30);
    assert.deepEqual(visit(h, 0), [
      [30, 's3', 'd3'],
      [40, 's4', 'd4'],
      [50, 's5', 'd5'],
    ]);
    assert.deepEqual(visit(h, 35), [
      [40, 's4', 'd4'],
      [50, 's5', 'd5'],
    ]);
    assert.deepEqual(visit(h, 50), []);
  });

  it('frames an event with its sequence, and skips payloads that are not JSON objects', () => {
    const h = new EventHistory(limits(5));
    assert.equal(h.append(7, 's', p('x')), true);
    assert.equal(h.newestFrame()!.toString(), '{"type":"event","seq":7,"payload":{"d":"x"}}');
    h.append(8, 's', Buffer.from('[1,2]'));
    assert.equal(h.newestFrame(), null, 'not a JSON object');
    h.append(9, 's', Buffer.from('not json'));
    assert.deepEqual(visit(h, 0), [[7, 's', 'x']]);
    assert.equal(h.size, 3);
  });

  it('forgets events older than its age limit', () => {
    let now = 0;
    const h = new EventHistory(limits(10, 1000), () => now);
    h.append(1, 's', p('a'));
    now = 600;
    h.append(2, 's', p('b'));
    now = 1200;
    assert.equal(h.firstSeq, 2);
    now = 1700;
    assert.equal(h.firstSeq, undefined);
  });

  it('copies the bytes it is given (the client library reuses its read buffer)', () => {
    const h = new EventHistory(limits(2));
    const buf = p('abc');
    h.append(1, 's', buf);
    buf.write('{"d":"xyz"}');
    assert.deepEqual(visit(h, 0), [[1, 's', 'abc']]);
  });

  it('never holds more payload bytes than resume_max_bytes, large events included; the oldest go first', () => {
    const h = new EventHistory(limits(50_000, 600_000, 4 * MiB));
    const large = 'x'.repeat(400 * 1024);
    for (let seq = 1; seq <= 100; seq++) {
      h.append(seq, `s${seq % 3}`, p(`${seq}:${large}`));
      assert.ok(h.payloadBytes <= 4 * MiB, `after ${seq}: ${h.payloadBytes} bytes kept`);
    }
    const kept = visit(h, 0);
    assert.equal(kept.length, 9, 'nine events of 400 KiB fit in 4 MiB');
    assert.deepEqual(
      kept.map(([seq]) => seq),
      [92, 93, 94, 95, 96, 97, 98, 99, 100],
    );
    assert.equal(h.firstSeq, 92);
    for (const [seq, , d] of kept) assert.equal(d, `${seq}:${large}`);
  });

  it('keeps nothing of an event larger than its bytes, and starts again after it (no hole to resume across)', () => {
    const h = new EventHistory(limits(100, 60_000, 64 * 1024));
    for (let seq = 1; seq <= 5; seq++) h.append(seq, 's', p(String(seq)));
    assert.equal(h.append(6, 's', p('y'.repeat(70 * 1024))), false, 'not kept: the dispatcher frames it itself');
    assert.equal(h.firstSeq, undefined, 'everything before the large event is gone with it');
    h.append(7, 's', p('7'));
    assert.deepEqual(visit(h, 0), [[7, 's', '7']]);
  });

  it('keeps payloads of any size byte for byte as its byte ring wraps, grows and runs out of room', () => {
    // 300 KiB of ring for events of 0–3,000 bytes (and some of 70 KB): the oldest go by bytes
    // as well as by count.
    const h = new EventHistory(limits(300, 600_000, 300 * 1024));
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
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
      assert.ok(h.payloadBytes <= 300 * 1024, `ring holds ${h.payloadBytes} bytes`);
      const s3: number[] = [];
      h.forEachOf(['s3'], 0, (_s, frame, at) => {
        assert.equal(JSON.parse(frame.toString()).payload.d, appended[at - 1]![2]);
        s3.push(at);
      });
      assert.deepEqual(
        s3,
        kept.filter(([, subject]) => subject === 's3').map(([at]) => at),
      );
    }
    assert.ok(visit(h, 0).length < 300, 'some went for lack of bytes, not count');
  });

  it('keeps every payload byte for byte when its ring grows after wrapping round', () => {
    // Events expire by age while they get larger: the oldest leave the start of the ring, the
    // newest wrap round to it, and the ring then fills and grows (256 KiB → 2 MiB) with its
    // payloads in two runs: the older at the ring's end, the newer wrapped round to its start.
    let now = 0;
    const h = new EventHistory(limits(2000, 1000), () => now);
    const appended: Array<[number, string, string, number]> = [];
    for (let seq = 1; seq <= 4000; seq++) {
      now += 2;
      const d = `${seq}:${'y'.repeat(Math.min(3000, 100 + seq))}${seq % 499 === 0 ? 'z'.repeat(70_000) : ''}`;
      h.append(seq, `s${seq % 5}`, p(d));
      appended.push([seq, `s${seq % 5}`, d, now]);
      if (seq % 50 !== 0) continue;
      const kept = visit(h, 0);
      const expected = appended
        .filter(([, , , at]) => at >= now - 1000)
        .map(([q, subject, text]) => [q, subject, text]);
      assert.deepEqual(kept, expected.slice(-kept.length), `after ${seq}: the newest events, unchanged`);
      assert.equal(kept.length, expected.length, `after ${seq}: kept all ${expected.length} within the age`);
    }
  });

  it('knows an event by subject and event_id within a window', () => {
    let now = 0;
    const h = new EventHistory(limits(10, 600_000), () => now);
    h.append(1, 'wa.c.a.chats', Buffer.from('{"event_id":"e1"}'));
    h.append(2, 'wa.c.a.messages.k', Buffer.from('{"event_id":"e2"}'));
    assert.equal(h.has('wa.c.a.chats', 'e1', 1000), true);
    assert.equal(h.has('wa.c.a.chats', 'e2', 1000), false);
    now = 2000;
    assert.equal(h.has('wa.c.a.chats', 'e1', 1000), false);
  });

  it(
    "walks one subject's events in stream order, also after its older ones " + 'were dropped and their slots reused',
    () => {
      const h = new EventHistory(limits(6));
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
      assert.deepEqual(of(['x'], 0), [], "x's slots were reused by y");
      assert.deepEqual(of(['y'], 0), [11, 12, 13, 14, 15, 16]);
    },
  );

  it('visits a slice at a time (up to a sequence, stopping when told) and counts what a replay would read', () => {
    const h = new EventHistory(limits(100));
    for (let seq = 1; seq <= 20; seq++) h.append(seq, seq % 2 === 0 ? 'even' : 'odd', p(String(seq)));
    const seen: number[] = [];
    const upTo = h.visitOf(['even', 'odd'], 4, 15, (_s, _f, seq) => seen.push(seq) < 3);
    assert.deepEqual(seen, [5, 6, 7]);
    assert.equal(upTo, 7, 'everything up to 7 was visited');
    const rest: number[] = [];
    assert.equal(
      h.visitOf(['even'], upTo, 15, (_s, _f, seq) => rest.push(seq) > 0),
      15,
    );
    assert.deepEqual(rest, [8, 10, 12, 14]);
    const wanted: number[] = [];
    h.visitOf(
      undefined,
      16,
      20,
      (_s, _f, seq) => wanted.push(seq) > 0,
      (subject) => subject === 'odd',
    );
    assert.deepEqual(wanted, [17, 19]);
    assert.equal(h.countOf(['even'], 0, 1000), 10);
    assert.equal(h.countOf(['even', 'odd'], 10, 5), 5, 'counted up to the cap');
    assert.equal(
      h.countOf(undefined, 10, 1000, (subject) => subject === 'odd'),
      5,
    );
  });

  it('keeps the newest events when it is made smaller, in count or in bytes', () => {
    const h = new EventHistory(limits(5));
    for (let seq = 1; seq <= 5; seq++) h.append(seq, 's', p(String(seq)));
    h.resize(limits(2));
    assert.deepEqual(visit(h, 0), [
      [4, 's', '4'],
      [5, 's', '5'],
    ]);
    h.append(6, 's', p('6'));
    assert.deepEqual(
      visit(h, 0).map(([seq]) => seq),
      [5, 6],
    );
    const big = new EventHistory(limits(100, 60_000, 4 * MiB));
    for (let seq = 1; seq <= 10; seq++) big.append(seq, 's', p('z'.repeat(300 * 1024)));
    big.resize(limits(100, 60_000, MiB));
    assert.deepEqual(
      visit(big, 0).map(([seq]) => seq),
      [8, 9, 10],
    );
    assert.ok(big.payloadBytes <= MiB);
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
