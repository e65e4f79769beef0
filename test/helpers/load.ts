import assert from 'node:assert/strict';
import type { TestPublisher } from './publisher.js';
import type { TestClient } from './ws-client.js';
import { waitFor } from './wait.js';

export interface Published {
  subject: string;
  id: string;
  /** The exact bytes published. */
  text: string;
  seq: number;
  sentAt: number;
}

/**
 * Publishes `count` events at `perSecond`, cycling over `subjects`. Each payload has an extra
 * top-level field and nested objects, so that a client can check it got the producer's bytes.
 */
export async function publishLoad(
  pub: TestPublisher,
  subjects: string[],
  count: number,
  perSecond: number,
  tag = 'ev',
): Promise<Published[]> {
  const out: Array<Promise<Published>> = [];
  const started = Date.now();
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const subject = subjects[i % subjects.length]!;
    const id = `${tag}-${i}`;
    const sentAt = Date.now();
    const rowData = `{"i":${i},"nested":{"a":[1,{"b":"x y"}],"n":1.50}}`;
    const text = `{"event_id":"${id}","sent_at":${sentAt},"company_id":"c","row_data":${rowData},"x_extra":{"kept":1}}`;
    out.push(pub.publish(subject, text).then((seq) => ({ subject, id, text, seq, sentAt })));
  }
  return Promise.all(out);
}

/** The published events a client should see, in stream order. */
export function expectedFor(published: Published[], subjects: string[]): Published[] {
  return published.filter((p) => subjects.includes(p.subject)).sort((a, b) => a.seq - b.seq);
}

/**
 * Checks what a client received: exactly the expected events, once each, in stream order, with
 * `seq` the stream sequence and `payload` byte for byte what was published. Returns the worst
 * delay between publishing and arrival, in ms.
 */
export function assertReceived(client: TestClient, expected: Published[], label: string): number {
  const events = client.raw.filter((r) => r.text.startsWith('{"type":"event"'));
  const got = events.map((r) => JSON.parse(r.text).payload.event_id as string);
  assert.deepEqual(
    got,
    expected.map((e) => e.id),
    `${label}: event ids, once each, in stream order`,
  );
  let worst = 0;
  events.forEach((r, i) => {
    const e = expected[i]!;
    assert.equal(r.text, `{"type":"event","seq":${e.seq},"payload":${e.text}}`, `${label}: frame of ${e.id}`);
    worst = Math.max(worst, r.at - e.sentAt);
  });
  return worst;
}

/** Waits until a client has `count` event frames. */
export async function waitForEvents(client: TestClient, count: number, timeoutMs: number): Promise<void> {
  const n = () => client.raw.filter((r) => r.text.startsWith('{"type":"event"')).length;
  await waitFor(() => n() >= count, timeoutMs, `${count} events`).catch(() => {
    throw new Error(`got ${n()} of ${count} events`);
  });
}
