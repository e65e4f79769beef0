import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { launchChromium, noChromium } from '../helpers/chromium.js';
import type { Browser, Page } from 'playwright-core';
import { KEYS, uid } from '../helpers/env.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { sleep } from '../helpers/wait.js';

/** The demo page, end to end in Debian's headless Chromium: connect, see an event, see a conflict. */
describe('demo page in headless Chromium', {
  skip: noChromium,
}, () => {
  let gw: RunningGateway;
  let browser: Browser;

  before(async () => {
    gw = await startGateway({ DAISI_WS_SERVER_HOST: '127.0.0.1' });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });

  async function openPage(company: string, user: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`${gw.http}/#key=${KEYS.client}&admin=${KEYS.admin}`);
    await page.fill('#company', company);
    await page.fill('#user', user);
    await page.click('#connect');
    await page.waitForSelector('#status.connected', { timeout: 5000 });
    return page;
  }

  it("follows the README's curl examples word for word: both events appear on the page's defaults", async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /Publishing an event by hand[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'the README has the curl block');
    const page = await browser.newPage();
    await page.goto(`${gw.http}/#key=${KEYS.client}&admin=${KEYS.admin}`);
    await page.click('#connect'); // the defaults, as a newcomer leaves them
    await page.waitForSelector('#status.connected', { timeout: 5000 });
    // The one change: the test's gateway is not on localhost:8080.
    const script = block.replaceAll('localhost:8080', gw.http.replace('http://', ''));
    // Not spawnSync: the gateway answers from this process.
    const run = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], {
      env: { ...process.env, DAISI_WS_ADMIN_KEY: KEYS.admin },
      encoding: 'utf8',
    });
    assert.match(run.stdout, /"subject":"wa\.acme\.agent-1\.chats"/);
    for (const id of ['e1', 'e2'])
      await page.waitForSelector(`#log li.event:has-text('"event_id":"${id}"')`, { timeout: 5000 });
    await page.close();
  });

  it('connects, shows an event published through the API, and the conflict when the user logs in again', async () => {
    const company = uid('c');
    const first = await openPage(company, 'alice');
    const eventId = uid('ev');
    const res = await fetch(`${gw.http}/api/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-API-Key': KEYS.admin },
      body: JSON.stringify({
        company_id: company,
        agent_id: 'agent-1',
        kind: 'chats',
        event: { event_id: eventId, row_data: { text: 'hi' } },
      }),
    });
    assert.equal(res.status, 200);
    await first.waitForSelector(`#log li.event:has-text("${eventId}")`, { timeout: 5000 });

    await first.fill('#chatId', 'chat-7');
    await first.click('#selectChat');
    await first.selectOption('#publishKind', 'messages');
    await first.fill('#publishChat', 'chat-7');
    await first.fill('#publishText', 'typed in the page');
    await first.click('#publish');
    await first.waitForSelector('#log li.event:has-text("typed in the page")', { timeout: 5000 });

    const second = await openPage(company, 'alice');
    await first.waitForSelector('#status.closed', { timeout: 5000 });
    assert.ok(await first.isVisible('#log li.error:has-text("SessionConflict")'));
    assert.match((await second.textContent('#status')) ?? '', /connected/);
    await sleep(2000);
    assert.match(
      (await first.textContent('#status')) ?? '',
      /^closed \(4402: Session conflict\)$/,
      'taken over: the SDK does not come back, and the page says why',
    );
    await first.screenshot({ path: '/tmp/daisi-ws-demo.png' }).catch(() => undefined);
  });

  it('loses its socket, reconnects with since and shows the events published in between', async () => {
    const company = uid('c');
    const page = await openPage(company, 'bob');
    const publish = (text: string) =>
      fetch(`${gw.http}/api/publish`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-API-Key': KEYS.admin },
        body: JSON.stringify({
          company_id: company,
          agent_id: 'agent-1',
          kind: 'chats',
          event: { event_id: uid('ev'), row_data: { text } },
        }),
      });
    await publish('seen before');
    await page.waitForSelector('#log li.event:has-text("seen before")', { timeout: 5000 });
    const session = gw.gateway.registry.get(`session:${company}:agent-1:bob`) as unknown as {
      kill(code: number, reason: string): void;
    };
    session.kill(1006, 'test drops the connection'); // the server drops the TCP connection
    for (const text of ['missed one', 'missed two', 'missed three']) assert.equal((await publish(text)).status, 200);
    await page.waitForSelector('#log li.info:has-text("resumed 3 events")', { timeout: 5000 });
    for (const text of ['missed one', 'missed two', 'missed three'])
      assert.ok(await page.isVisible(`#log li.event:has-text("${text}")`), text);
    assert.equal(await page.locator('#log li.event:has-text("seen before")').count(), 1, 'nothing shown twice');
    await page.screenshot({ path: '/tmp/daisi-ws-demo-resume.png' }).catch(() => undefined);
  });
});
