import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { freePortNumber, KEYS, REDIS_ADDRESS, uid } from '../helpers/env.js';
import { companyToken, spawnGateway, type ChildGateway } from '../helpers/gateway.js';
import { TestPublisher } from '../helpers/publisher.js';
import { waitFor } from '../helpers/wait.js';
import { TestNatsServer } from '../../support/nats-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HOST = '127.0.0.41';

/**
 * The client SDK in a browser: a page loads /daisi-ws-client.js from a pod, connects, receives an
 * event, and goes on through the pod's restart — it reconnects by itself and resumes with what was
 * published while the pod was gone, each event once.
 */
describe('client SDK in headless Chromium', {
  skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM} (apt-get install chromium)`,
}, () => {
  let nats: TestNatsServer;
  let pub: TestPublisher;
  let pod: ChildGateway;
  let browser: Browser;
  const stream = uid('stream');
  const env = () => ({
    DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
    DAISI_WS_NATS_URL: nats.url,
    DAISI_WS_NATS_STREAM_NAME: stream,
    DAISI_WS_SERVER_HTTP_PORT: String(port),
  });
  const port = freePortNumber();

  before(async () => {
    nats = await TestNatsServer.start();
    pod = await spawnGateway(HOST, env());
    pub = await TestPublisher.connect(nats.url);
    await pub.waitForStream(stream);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic'],
    });
  });
  after(async () => {
    await browser?.close();
    await pod?.kill();
    await pub?.close();
    await nats?.stop();
  });

  it('loads the module from the gateway, receives, survives a pod restart and resumes, each event once', async () => {
    const company = uid('c');
    const token = companyToken(company, 'agent-1', 'u1');
    const page = await browser.newPage();
    await page.goto(`${pod.http}/`);
    await page.evaluate(
      async ({ url, apiKey, token }) => {
        const { DaisiClient } = await import('/daisi-ws-client.js' as string);
        const seen: Record<string, unknown[]> = { events: [], states: [], resumed: [] };
        (window as unknown as { seen: typeof seen }).seen = seen;
        const client = new DaisiClient({ url, apiKey, token, minReconnectDelayMs: 200, maxReconnectDelayMs: 2000 });
        client.on('event', (payload: { event_id: string }, meta: { seq: number }) =>
          seen.events!.push([payload.event_id, meta.seq]),
        );
        client.on('state', (state: string) => seen.states!.push(state));
        client.on('resumed', (r: unknown) => seen.resumed!.push(r));
        client.connect();
      },
      { url: `${pod.ws}/ws/${company}/agent-1`, apiKey: KEYS.client, token },
    );
    const seen = () => page.evaluate(() => (window as unknown as { seen: Record<string, unknown[]> }).seen);
    await waitFor(async () => (await seen()).states!.includes('connected'), 10_000, 'the page connected');
    const subject = `wa.${company}.agent-1.chats`;
    const ids: string[] = [];
    const publish = async (id: string) => {
      ids.push(id);
      await pub.publish(subject, { event_id: id, row_data: {} });
    };
    await publish('before');
    await waitFor(async () => (await seen()).events!.length === 1, 5000, 'the first event');

    await pod.stop(); // SIGTERM: the session gets 1001 and the SDK tries again
    for (let i = 0; i < 5; i++) await publish(`while-down-${i}`);
    pod = await spawnGateway(HOST, env());
    await publish('after');
    await waitFor(async () => (await seen()).events!.length >= ids.length, 20_000, 'every event');
    const result = await seen();
    assert.deepEqual(
      (result.events as Array<[string, number]>).map(([id]) => id),
      ids,
      'every event once, in order',
    );
    assert.ok(result.resumed!.length >= 1, 'resumed after the restart');
    assert.ok(result.states!.filter((s) => s === 'connected').length >= 2, `states ${result.states}`);
    await page.screenshot({ path: '/tmp/daisi-ws-sdk.png' }).catch(() => undefined);
  });
});
