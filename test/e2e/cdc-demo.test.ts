import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { launchChromium, noChromium } from '../helpers/chromium.js';
import type { Browser } from 'playwright-core';
import pg from 'pg';
import { TestPostgres } from '../../support/postgres-server.js';
import { createCompanySchema } from '../helpers/cdc.js';
import { KEYS } from '../helpers/env.js';
import { spawnGateway, type ChildGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The whole pipeline for a new user (README, *Change data capture*): the embedded pod with the bridge
 * inside (`cdc.enabled`), the demo page at its defaults, and a row inserted with psql appearing on it.
 */
describe('a row inserted with psql appears on the demo page (embedded pod, cdc.enabled)', {
  skip: noChromium || (!TestPostgres.available() && 'no PostgreSQL 15'),
}, () => {
  let postgres: TestPostgres;
  let pod: ChildGateway;
  let browser: Browser;

  before(async () => {
    postgres = await TestPostgres.start();
    const db = new pg.Client(postgres.url);
    await db.connect();
    await createCompanySchema(db, 'acme');
    await db.end();
    pod = await spawnGateway('127.0.0.91', {
      DAISI_WS_CDC_ENABLED: 'true',
      DAISI_WS_CDC_POSTGRES_URL: postgres.url,
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await pod?.kill();
    await postgres?.destroy();
  });

  it('inserts into daisi_acme.chats with psql; the page connected at its defaults shows the row', async () => {
    // The pod reports the bridge it runs: ready once the bridge reads its slot.
    await waitFor(async () => (await fetch(`${pod.http}/ready`)).status === 200, 20_000, 'the pod is ready');
    const ready = await (await fetch(`${pod.http}/ready`)).json();
    assert.deepEqual(ready, { status: 'READY', dependencies: { nats: 'embedded', redis: 'embedded', cdc: 'active' } });
    const page = await browser.newPage();
    await page.goto(`${pod.http}/#key=${KEYS.client}&admin=${KEYS.admin}`);
    await page.click('#connect'); // acme / agent-1 / alice, chat-1
    await page.waitForSelector('#status.connected', { timeout: 5000 });
    const sql =
      "INSERT INTO daisi_acme.chats (chat_id, agent_id, title) VALUES ('chat-1', 'agent-1', 'hello from psql')";
    const psql = await promisify(execFile)('psql', [postgres.url, '-c', sql], { encoding: 'utf8' });
    assert.match(psql.stdout, /INSERT 0 1/);
    await page.waitForSelector('#log li.event:has-text("hello from psql")', { timeout: 10_000 });
    const text = (await page.textContent('#log li.event')) ?? '';
    assert.match(text, /"action":"insert"/);
    assert.match(text, /"table_name":"chats"/);
    await page.screenshot({ path: '/tmp/daisi-ws-cdc-demo.png' }).catch(() => undefined);
    await page.close();
  });
});
