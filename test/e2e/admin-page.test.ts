import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { KEYS, REDIS_ADDRESS, uid } from '../helpers/env.js';
import { companyToken, spawnGateway, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { TestClient } from '../helpers/ws-client.js';
import { TestNatsServer } from '../../support/nats-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HOSTS = ['127.0.0.61', '127.0.0.62'];

/** The operator's page in Debian's headless Chromium, over a fleet of two pods. */
describe('operator page in headless Chromium', {
  skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM} (apt-get install chromium)`,
}, () => {
  let nats: TestNatsServer;
  let pods: ChildGateway[] = [];
  let browser: Browser;

  before(async () => {
    nats = await TestNatsServer.start();
    const env = {
      DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
      DAISI_WS_NATS_URL: nats.url,
      DAISI_WS_NATS_STREAM_NAME: uid('s'),
    };
    pods = await Promise.all(HOSTS.map((h) => spawnGateway(h, env)));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic'],
    });
  });
  after(async () => {
    await browser?.close();
    await Promise.all(pods.map((p) => p.kill()));
    await nats?.stop();
  });

  it('takes the key, shows both pods and their sessions, a new session without a reload, and Disconnect closes it', async () => {
    const company = uid('c');
    const [a, b] = pods as [ChildGateway, ChildGateway];
    const alice = await TestClient.ready(
      `${userUrl(a.ws, company, 'agent-1', companyToken(company, 'agent-1', 'alice'))}&chat_id=k1`,
    );
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${b.http}/admin`);
    assert.equal(page.url(), `${b.http}/admin`, 'no key in the URL');
    await page.fill('#key', KEYS.admin);
    await page.click('#useKey');
    for (const host of HOSTS) await page.waitForSelector(`.pod[data-pod="${host}"]`, { timeout: 5000 });
    await page.fill('#company', company);
    await page.waitForSelector('tr[data-user="alice"]', { timeout: 5000 });
    assert.equal(await page.evaluate(() => sessionStorage.getItem('dws.adminKey')), KEYS.admin);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    const bob = await TestClient.ready(userUrl(b.ws, company, 'agent-2', companyToken(company, 'agent-2', 'bob')));
    await page.waitForSelector('tr[data-user="bob"]', { timeout: 5000 });
    assert.match((await page.textContent('tr[data-user="alice"]')) ?? '', /127\.0\.0\.61.*k1/);
    await page.screenshot({ path: '/tmp/daisi-ws-admin.png', fullPage: true });
    await page.fill('#reason', 'closed from the operator page');
    await page.click('tr[data-user="bob"] button');
    const closed = await bob.closed;
    assert.equal(closed.code, 4410);
    assert.equal(bob.frames.find((f) => f.type === 'error')?.payload.message, 'closed from the operator page');
    await page.waitForSelector('tr[data-user="bob"]', { state: 'detached', timeout: 5000 });
    assert.equal(alice.socket.readyState, 1, 'alice stays');
    await alice.close();
  });
});
