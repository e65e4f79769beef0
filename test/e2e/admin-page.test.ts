import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { launchChromium, noChromium } from '../helpers/chromium.js';
import type { Browser } from 'playwright-core';
import { KEYS, REDIS_ADDRESS, uid } from '../helpers/env.js';
import { companyToken, spawnGateway, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { TestClient } from '../helpers/ws-client.js';
import { event, TestPublisher } from '../helpers/publisher.js';
import { TestNatsServer } from '../../support/nats-server.js';

const HOSTS = ['127.0.0.61', '127.0.0.62'];
/** The screenshots docs/operator-page.md shows (looked at before they are committed). */
const SHOTS = process.env.DAISI_WS_SCREENSHOTS ?? join(process.env.TMPDIR ?? '/tmp', 'daisi-ws-screenshots');
mkdirSync(SHOTS, { recursive: true });

/** The operator's page in Debian's headless Chromium, over a fleet of two pods. */
describe('operator page in headless Chromium', {
  skip: noChromium,
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
    browser = await launchChromium();
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
    // A few seconds of events for alice (on the first pod): its chart rises above zero.
    const pub = await TestPublisher.connect(nats.url);
    for (let i = 0; i < 60; i++) {
      await pub.publish(`wa.${company}.agent-1.chats`, event(`ev-${i}`));
      await page.waitForTimeout(50);
    }
    await pub.close();
    await page.waitForFunction(
      (host) =>
        /[1-9]\d* events\/s|peak [1-9]/.test(document.querySelector(`.chart[data-pod="${host}"]`)?.textContent ?? ''),
      HOSTS[0],
      { timeout: 5000 },
    );
    await page.screenshot({ path: join(SHOTS, 'operator-1280.png'), fullPage: true });
    await page.click('tr[data-user="bob"] button');
    // Disconnect's options sit with the action, under bob's row; the table waits while they are open.
    await page.waitForSelector('tr.confirm[data-for="bob"]');
    await page.selectOption('tr.confirm select[name="block"]', '0');
    await page.fill('tr.confirm input[name="reason"]', 'closed from the operator page');
    await page.waitForTimeout(2500); // a refresh comes and goes: what was typed stays
    assert.equal(await page.inputValue('tr.confirm input[name="reason"]'), 'closed from the operator page');
    await page.click('tr.confirm button[type="submit"]');
    const closed = await bob.closed;
    assert.equal(closed.code, 4410);
    assert.equal(bob.frames.find((f) => f.type === 'error')?.payload.message, 'closed from the operator page');
    await page.waitForSelector('tr[data-user="bob"]', { state: 'detached', timeout: 5000 });
    assert.equal(alice.socket.readyState, 1, 'alice stays');
    await page.waitForSelector('#activity li:has-text("disconnected")');
    await alice.close();
  });

  it('works on a phone (390 px): the header and every control fit, the table scrolls within its box', async () => {
    const company = uid('c');
    const carol = await TestClient.ready(
      userUrl(pods[0]!.ws, company, 'agent-9', companyToken(company, 'agent-9', 'carol')),
    );
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true });
    await page.goto(`${pods[1]!.http}/admin`);
    await page.fill('#key', KEYS.admin);
    await page.click('#useKey');
    await page.fill('#company', company);
    await page.waitForSelector('tr[data-user="carol"]', { timeout: 5000 });
    await page.waitForSelector('.chart svg polyline', { state: 'attached', timeout: 5000 });
    assert.ok(
      (await page.evaluate(() => document.documentElement.scrollWidth)) <= 390,
      'no sideways scroll of the page',
    );
    for (const selector of ['#useKey', '#forget', '#key', '#company', '#user', '.chart']) {
      const box = await page.locator(selector).first().boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${selector} within the screen: ${JSON.stringify(box)}`);
    }
    await page.click('tr[data-user="carol"] button');
    await page.waitForSelector('tr.confirm[data-for="carol"]');
    await page.screenshot({ path: join(SHOTS, 'operator-390.png'), fullPage: true });
    await page.click('tr.confirm .cancel');
    await page.waitForSelector('tr.confirm', { state: 'detached' });
    assert.equal(carol.socket.readyState, 1, 'Cancel disconnects nobody');
    await carol.close();
  });
});
