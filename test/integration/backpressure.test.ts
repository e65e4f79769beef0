import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uid } from '../helpers/env.js';
import { companyToken, startGateway, userUrl } from '../helpers/gateway.js';
import { TestClient } from '../helpers/ws-client.js';
import type { ClientConnection } from '../../src/transports/ws/client-connection.js';
import { waitFor } from '../helpers/wait.js';

const BIG = 'x'.repeat(64 * 1024);

async function stalledClient(policy: 'drop_oldest' | 'block') {
  const gw = await startGateway({
    DAISI_WS_APP_WEBSOCKET_MESSAGE_BUFFER_SIZE: '10',
    DAISI_WS_APP_WEBSOCKET_BACKPRESSURE_DROP_POLICY: policy,
    DAISI_WS_APP_WEBSOCKET_SLOW_CLIENT_LATENCY_MS: '300',
    DAISI_WS_APP_WEBSOCKET_SLOW_CLIENT_DISCONNECT_THRESHOLD_MS: '1500',
  });
  const company = uid('c');
  const agent = uid('a');
  const user = uid('u');
  const slow = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, user)));
  const fast = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))));
  (slow.socket as unknown as { _socket: { pause(): void } })._socket.pause(); // stops reading
  slow.socket.on('error', () => undefined);
  const connection = gw.gateway.registry.get(`session:${company}:${agent}:${user}`) as ClientConnection;
  return { gw, fast, connection, subject: `wa.${company}.${agent}.chats` };
}

/** When the server closed the connection (the stalled client cannot tell: it reads nothing). */
async function closedWithin(connection: ClientConnection, timeoutMs: number): Promise<number> {
  await waitFor(() => !connection.isOpen, timeoutMs, 'the slow client disconnected');
  return Date.now();
}

async function metric(http: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => pattern.test(l))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe('backpressure (docs/protocol.md, *WebSocket*)', () => {
  it(
    'drop_oldest: a client that stops reading loses the oldest frames, the queue stays bounded, and it is ' +
      'disconnected after the threshold',
    async () => {
      const { gw, fast, connection, subject } = await stalledClient('drop_oldest');
      let maxQueued = 0;
      const started = Date.now();
      for (let i = 0; i < 300; i++) {
        await gw.gateway.engine.stream.publish(
          subject,
          Buffer.from(JSON.stringify({ event_id: `e${i}`, row_data: { pad: BIG } })),
        );
        await new Promise((r) => setImmediate(r));
        maxQueued = Math.max(maxQueued, connection.queued);
      }
      assert.ok(maxQueued <= 10, `queue held ${maxQueued} frames`);
      assert.ok(maxQueued >= 9, 'frames did wait (the socket was full)');
      assert.ok(
        (await metric(gw.http, /^dws_websocket_messages_dropped_total\{.*reason="buffer_full_dropped_oldest"/)) > 0,
      );
      assert.equal((await fast.waitEvents(300)).length, 300, 'a reading client of the same agent misses nothing');
      const closedAfter = await closedWithin(connection, 6000);
      assert.ok(closedAfter - started > 1000, `slow client closed after ${closedAfter - started} ms`);
      assert.equal(connection.closeReason, 'Slow client');
      assert.equal(await metric(gw.http, /^dws_websocket_slow_clients_disconnected_total /), 1);
      await fast.close();
      await gw.stop();
    },
  );

  it(
    "a client that stops reading for a while and reads again gets every frame at once, in order (the socket's " +
      'drain moves the queue on)',
    async () => {
      // Room for all of it in frames and bytes: what is shown here is the drain, not the bounds.
      const gw = await startGateway({
        DAISI_WS_APP_WEBSOCKET_MESSAGE_BUFFER_SIZE: '1000',
        DAISI_WS_APP_WEBSOCKET_MAX_QUEUED_BYTES: String(256 * 1024 * 1024),
      });
      const company = uid('c');
      const agent = uid('a');
      const client = await TestClient.ready(userUrl(gw.ws, company, agent, companyToken(company, agent, uid('u'))));
      try {
        const raw = (client.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
        raw.pause();
        const connection = [...gw.gateway.registry.all()][0] as ClientConnection;
        // 300 frames of 64 KiB in a burst, and more while fewer than 20 wait in the queue: the
        // kernel's socket buffers on loopback (tens of MB at most) are full, and frames wait here.
        let count = 0;
        while ((count < 300 || connection.queued < 20) && count < 3000) {
          await gw.gateway.engine.stream.publish(
            `wa.${company}.${agent}.chats`,
            Buffer.from(JSON.stringify({ event_id: `e${count++}`, row_data: { pad: BIG } })),
          );
        }
        assert.ok(connection.queued >= 20, `frames wait in the queue (the socket is full) after ${count} frames`);
        const resumedAt = Date.now();
        raw.resume();
        const events = await client.waitEvents(count, 10_000);
        // The heartbeat sweep (every second) also moves a queue on, but a socketful at a time: the
        // frames left waiting would take tens of seconds that way.
        assert.ok(
          Date.now() - resumedAt < 3000,
          `all frames arrived ${Date.now() - resumedAt} ms after the client read again`,
        );
        assert.deepEqual(
          events.map((e) => (e.payload as { event_id: string }).event_id),
          Array.from({ length: count }, (_, i) => `e${i}`),
        );
      } finally {
        await client.close();
        await gw.stop();
      }
    },
  );

  it(
    'block: nothing is dropped; a reading client of the same agent gets every frame (it catches up from the ' +
      'history), the stalled one is disconnected after the threshold',
    async () => {
      const { gw, fast, connection, subject } = await stalledClient('block');
      for (let i = 0; i < 200; i++) {
        await gw.gateway.engine.stream.publish(
          subject,
          Buffer.from(JSON.stringify({ event_id: `e${i}`, row_data: { pad: BIG } })),
        );
      }
      assert.equal(
        await metric(gw.http, /^dws_websocket_messages_dropped_total\{.*reason="buffer_full_dropped_oldest"/),
        0,
      );
      await closedWithin(connection, 6000);
      assert.equal(connection.closeReason, 'Slow client');
      const got = await fast.waitEvents(200, 10_000);
      assert.deepEqual(
        got.map((e) => (e.payload as { event_id: string }).event_id),
        Array.from({ length: 200 }, (_, i) => `e${i}`),
        'every frame once, in order',
      );
      assert.equal(await metric(gw.http, /^dws_websocket_slow_clients_disconnected_total /), 1);
      await fast.close();
      await gw.stop();
    },
  );
});
