import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { uid } from '../helpers/env.js';
import { companyToken, startGateway, userUrl, type RunningGateway } from '../helpers/gateway.js';
import { TestClient } from '../helpers/ws-client.js';

describe('pings, pongs and compression (docs/protocol.md, *WebSocket*)', () => {
  let gw: RunningGateway;
  const company = uid('c');

  before(async () => {
    gw = await startGateway({
      DAISI_WS_APP_PING_INTERVAL_SECONDS: '1',
      DAISI_WS_APP_PONG_WAIT_SECONDS: '30',
      DAISI_WS_APP_MAX_MISSED_PONGS: '2',
      DAISI_WS_APP_WEBSOCKET_COMPRESSION_MODE: 'context_takeover',
      DAISI_WS_APP_WEBSOCKET_COMPRESSION_THRESHOLD: '16',
    });
  });
  after(() => gw.stop());

  it('keeps a client that answers pings and closes one that stops answering after max_missed_pongs', async () => {
    const answers = await TestClient.ready(userUrl(gw.ws, company, 'a1', companyToken(company, 'a1', uid('u'))));
    const silent = await TestClient.open(userUrl(gw.ws, company, 'a2', companyToken(company, 'a2', uid('u'))), {
      autoPong: false,
    });
    let pings = 0;
    silent.socket.on('ping', () => pings++);
    const closed = await Promise.race([
      silent.closed,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 6000)),
    ]);
    assert.ok(closed, 'the silent client was closed');
    assert.ok(pings >= 3, `it got ${pings} pings first`);
    // The Go service's close: an error frame, then close 1011 (not a dropped socket, 1006).
    assert.equal(closed.code, 1011);
    assert.deepEqual(silent.frames.at(-1), {
      type: 'error',
      payload: {
        code: 'InternalServerError',
        message: 'Pong timeout',
        details: 'No pong or message received within the configured time.',
      },
    });
    answers.send({ type: 'ready', still: 'here' });
    await answers.next((f) => (f as any).still === 'here');
    await answers.close();
  });

  it('negotiates permessage-deflate and delivers compressed events', async () => {
    const client = await TestClient.ready(userUrl(gw.ws, company, 'a3', companyToken(company, 'a3', uid('u'))));
    assert.match(client.socket.extensions, /permessage-deflate/);
    await gw.gateway.engine.stream.publish(
      `wa.${company}.a3.chats`,
      Buffer.from(JSON.stringify({ event_id: 'z1', row_data: { text: 'x'.repeat(500) } })),
    );
    assert.equal((await client.waitEvents(1))[0]!.payload.row_data.text.length, 500);
    await client.close();
  });
});
