import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchChromium, noChromium } from '../helpers/chromium.js';
import type { Browser } from 'playwright-core';
import { freePortNumber, KEYS, REDIS_ADDRESS, uid } from '../helpers/env.js';
import { companyToken, spawnGateway, type ChildGateway } from '../helpers/gateway.js';
import { TestPublisher } from '../helpers/publisher.js';
import { waitFor } from '../helpers/wait.js';
import { TestNatsServer } from '../../support/nats-server.js';

const HOST = '127.0.0.41';

/**
 * The client SDK in a browser: a page loads /daisi-ws-client.js from a pod, connects, receives an
 * event, and goes on through the pod's restart — it reconnects by itself and resumes with what was
 * published while the pod was gone, each event once.
 */
describe('client SDK in headless Chromium', {
  skip: noChromium,
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
    browser = await launchChromium();
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

  it('each refusal at the handshake is an error event and closed with its code, and it stops trying', async () => {
    const company = uid('c');
    const page = await browser.newPage();
    await page.goto(`${pod.http}/`);
    const blocked = await fetch(`${pod.http}/api/disconnect`, {
      method: 'POST',
      headers: { 'X-API-Key': KEYS.admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ company_id: company, agent_id: 'agent-b', user_id: 'ub', block_seconds: 60 }),
    });
    assert.equal(blocked.status, 200);
    const cases = [
      { name: 'wrong key', path: 'agent-1', apiKey: 'wrong', token: companyToken(company, 'agent-1', 'u1') },
      { name: 'bad token', path: 'agent-1', apiKey: KEYS.client, token: 'not-a-token' },
      { name: 'expired', path: 'agent-1', apiKey: KEYS.client, token: companyToken(company, 'agent-1', 'u1', -10) },
      { name: 'blocked', path: 'agent-b', apiKey: KEYS.client, token: companyToken(company, 'agent-b', 'ub') },
    ];
    const results = await page.evaluate(
      async ({ base, cases }) => {
        const { DaisiClient } = await import('/daisi-ws-client.js' as string);
        return Promise.all(
          cases.map(
            (c) =>
              new Promise((resolve) => {
                const seen = { errors: [] as unknown[], states: [] as unknown[] };
                const client = new DaisiClient({
                  url: `${base}/${c.path}`,
                  apiKey: c.apiKey,
                  token: c.token,
                  minReconnectDelayMs: 50,
                  maxReconnectDelayMs: 100,
                });
                client.on('error', (e: { code: string }) => seen.errors.push(e.code));
                client.on('state', (s: string, change: { code?: number }) =>
                  seen.states.push([s, change.code ?? null]),
                );
                client.connect();
                // Long enough for several retries, had it retried.
                setTimeout(() => resolve({ name: c.name, ...seen }), 1500);
              }),
          ),
        );
      },
      { base: `${pod.ws}/ws/${company}`, cases },
    );
    assert.deepEqual(results, [
      {
        name: 'wrong key',
        errors: ['InvalidAPIKey'],
        states: [
          ['connecting', null],
          ['closed', 4401],
        ],
      },
      {
        name: 'bad token',
        errors: ['InvalidToken'],
        states: [
          ['connecting', null],
          ['closed', 4403],
        ],
      },
      {
        name: 'expired',
        errors: ['InvalidToken'],
        states: [
          ['connecting', null],
          ['closed', 4403],
        ],
      },
      {
        name: 'blocked',
        errors: ['InvalidToken'],
        states: [
          ['connecting', null],
          ['closed', 4410],
        ],
      },
    ]);
    await page.close();
  });

  it('a page reload resumes from the position it saved: nothing lost, nothing twice', async () => {
    const company = uid('c');
    const token = companyToken(company, 'agent-1', 'u-reload');
    const subject = `wa.${company}.agent-1.chats`;
    const page = await browser.newPage();
    await page.goto(`${pod.http}/`);
    // What an application does: keep the position with each event, start from it after a reload.
    const start = ({ url, apiKey, token }: { url: string; apiKey: string; token: string }) =>
      page.evaluate(
        async ({ url, apiKey, token }) => {
          const { DaisiClient } = await import('/daisi-ws-client.js' as string);
          const saved = localStorage.getItem('daisi-position');
          const client = new DaisiClient({ url, apiKey, token, position: saved ? JSON.parse(saved) : undefined });
          const w = window as unknown as { got: string[]; connected: boolean };
          w.got = [];
          client.on('event', (payload: { event_id: string }) => {
            const log = JSON.parse(localStorage.getItem('daisi-log') ?? '[]');
            localStorage.setItem('daisi-log', JSON.stringify([...log, payload.event_id]));
            localStorage.setItem('daisi-position', JSON.stringify(client.position));
          });
          client.on('state', (s: string) => {
            if (s === 'connected') w.connected = true;
          });
          client.connect();
        },
        { url, apiKey, token },
      );
    const log = () => page.evaluate(() => JSON.parse(localStorage.getItem('daisi-log') ?? '[]') as string[]);
    const args = { url: `${pod.ws}/ws/${company}/agent-1`, apiKey: KEYS.client, token };
    await start(args);
    await waitFor(() => page.evaluate(() => (window as unknown as { connected?: boolean }).connected === true));
    const ids = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
    for (const id of ids.slice(0, 2)) await pub.publish(subject, { event_id: id, row_data: {} });
    await waitFor(async () => (await log()).length === 2, 5000, 'the first two events');
    await page.reload();
    for (const id of ids.slice(2, 5)) await pub.publish(subject, { event_id: id, row_data: {} }); // while the page is gone
    await start(args);
    await waitFor(() => page.evaluate(() => (window as unknown as { connected?: boolean }).connected === true));
    await pub.publish(subject, { event_id: 'r6', row_data: {} });
    await waitFor(async () => (await log()).length >= ids.length, 10_000, 'every event');
    assert.deepEqual(await log(), ids, 'each event once, in order, across the reload');
    await page.close();
  });
});
