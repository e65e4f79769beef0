import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { DaisiClient, type ClientState } from '../../client/src/index.js';
import { freePortNumber, KEYS, uid } from '../helpers/env.js';
import { companyToken, spawnGateway, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { TestPublisher } from '../helpers/publisher.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { TestClient } from '../helpers/ws-client.js';
import { TestNatsServer } from '../../support/nats-server.js';
import { TestRedisServer } from '../../support/redis-server.js';
import { timingBound } from '../helpers/timing.js';

const HOSTS = ['127.0.0.42', '127.0.0.43'];

/**
 * The client SDK against real pods, a real Redis and nats-server (docs/protocol.md, *Resume*,
 * *Session lifetime*): the promise of RELIABILITY.md kept by the code applications run.
 */
describe('client SDK against real pods', () => {
  let redis: TestRedisServer;
  let nats: TestNatsServer;
  let pub: TestPublisher;
  const pods: ChildGateway[] = [];
  const stream = uid('stream');
  const port = freePortNumber();
  const env = () => ({
    DAISI_WS_REDIS_ADDRESS: redis.address,
    DAISI_WS_NATS_URL: nats.url,
    DAISI_WS_NATS_STREAM_NAME: stream,
    DAISI_WS_SERVER_HTTP_PORT: String(port),
    DAISI_WS_APP_PING_INTERVAL_SECONDS: '1',
  });
  const restart = async (i: number) => {
    pods[i] = await spawnGateway(HOSTS[i]!, env());
  };

  before(async () => {
    [redis, nats] = await Promise.all([TestRedisServer.start(), TestNatsServer.start()]);
    for (let i = 0; i < HOSTS.length; i++) await restart(i);
    pub = await TestPublisher.connect(nats.url);
    await pub.waitForStream(stream);
  });
  after(async () => {
    await Promise.all(pods.map((p) => p.kill()));
    await pub?.close();
    await nats?.stop();
    await redis?.kill();
  });

  /** An SDK client that tries the pods in turn, one a connection, and records what it sees. */
  function sdkClient(company: string, token: string | (() => string)) {
    let next = 0;
    const seen = { events: [] as string[], states: [] as ClientState[], resumed: 0, errors: [] as string[], pod: -1 };
    const client = new DaisiClient({
      url: () => {
        seen.pod = next++ % HOSTS.length;
        return `ws://${HOSTS[seen.pod]}:${port}/ws/${company}/agent-1`;
      },
      apiKey: KEYS.client,
      token,
      chatId: 'k',
      WebSocket,
      minReconnectDelayMs: 200,
      maxReconnectDelayMs: 2000,
      heartbeatIntervalMs: 1000,
      silenceTimeoutMs: 4000,
    });
    client.on('event', (p) => void seen.events.push((p as { event_id: string }).event_id));
    client.on('state', (s) => void seen.states.push(s));
    client.on('resumed', () => void seen.resumed++);
    client.on('error', (e) => void seen.errors.push(`${e.code}: ${e.message}`));
    client.on('reset', (e) => void seen.errors.push(`${e.code}: ${e.message}`));
    return { client, seen };
  }

  it('through a pod SIGKILL, a graceful pod stop and a Redis restart: every event once, in order, and resumed', async () => {
    const company = uid('c');
    const { client, seen } = sdkClient(company, () => companyToken(company, 'agent-1', 'u1'));
    client.connect();
    await waitFor(() => client.state === 'connected', 10_000, 'connected');
    const subjects = [
      `wa.${company}.agent-1.chats`,
      `wa.${company}.agent-1.messages.k`,
      `wa.${company}.agent-1.messages.other`,
    ];
    const wanted: string[] = [];
    let running = true;
    const load = (async () => {
      for (let i = 0; running; i++) {
        const subject = subjects[i % 3]!;
        await pub.publish(subject, { event_id: `e${i}`, row_data: {} });
        if (!subject.endsWith('other')) wanted.push(`e${i}`);
        await sleep(10);
      }
    })();
    // Between the faults: events arrive again (a condition, not a pause).
    const flowing = async (what: string) => {
      const from = seen.events.length;
      await waitFor(() => seen.events.length >= from + 30, 15_000, `events arriving ${what}`);
    };
    await flowing('before the first fault');
    const connects = () => seen.states.filter((s) => s === 'connected').length;
    await pods[seen.pod]!.kill();
    await waitFor(() => connects() === 2, 15_000, 'back after the SIGKILL');
    await restart(HOSTS.indexOf(HOSTS[(seen.pod + 1) % HOSTS.length]!));
    await flowing('after the SIGKILL');
    const on = seen.pod;
    await pods[on]!.stop();
    await waitFor(() => connects() === 3, 15_000, 'back after the graceful stop');
    await restart(on);
    await flowing('after the graceful stop');
    await redis.kill();
    await flowing('while Redis is away');
    await redis.run();
    await flowing('after Redis is back');
    running = false;
    await load;
    await waitFor(() => seen.events.length >= wanted.length, 15_000, 'every event');
    assert.deepEqual(seen.events, wanted, 'every event of its subjects once, in stream order');
    assert.ok(seen.resumed >= 2, `resumed ${seen.resumed} times`);
    assert.equal(connects(), 3, 'Redis going away cost no reconnection');
    // The graceful stop says why it closes; nothing else went wrong (no reset: nothing was lost).
    assert.deepEqual(seen.errors, ['InternalServerError: Service shutting down']);
    client.close();
  });

  it('taken over by another connection (4402): closed, and it does not come back', async () => {
    const company = uid('c');
    const token = () => companyToken(company, 'agent-1', 'u2');
    const first = sdkClient(company, token);
    first.client.connect();
    await waitFor(() => first.client.state === 'connected', 10_000, 'first connected');
    const second = sdkClient(company, token);
    second.client.connect();
    await waitFor(() => first.client.state === 'closed', 10_000, 'the first closed');
    await sleep(3000);
    assert.equal(first.client.state, 'closed');
    assert.equal(first.seen.states.filter((s) => s === 'connecting').length, 1, 'it never tried again');
    assert.equal(second.client.state, 'connected');
    assert.ok(first.seen.errors.some((e) => e.startsWith('SessionConflict')));
    second.client.close();
  });

  it('a token of 8 s with a token function keeps one connection open past 20 s; a raw client without refresh is closed 4403 at expiry', async () => {
    const company = uid('c');
    const refreshed = sdkClient(company, () => companyToken(company, 'agent-1', 'u3', 8));
    refreshed.client.connect();
    const opened = Date.now();
    const raw = await TestClient.ready(
      userUrl(pods[0]!.ws, company, 'agent-1', companyToken(company, 'agent-1', 'u4', 8)),
    );
    const expiry = Date.parse(raw.frames[0]!.payload.expires_at);
    assert.ok(
      Math.abs(expiry - (opened + 8000)) < 2000,
      `ready carries expires_at: ${raw.frames[0]!.payload.expires_at}`,
    );
    const closed = await Promise.race([raw.closed, sleep(12_000).then(() => undefined)]);
    assert.ok(closed, 'the raw session was closed');
    assert.equal(closed.code, 4403);
    assert.ok(Date.now() >= expiry, `closed ${Date.now() - expiry} ms after expires_at, not before`);
    timingBound(Date.now() - expiry < 2500, `closed ${Date.now() - expiry} ms after expires_at`);
    const error = raw.frames.find((f) => f.type === 'error');
    assert.deepEqual([error?.payload.code, error?.payload.message], ['InvalidToken', 'Token expired']);
    await sleep(Math.max(0, 21_000 - (Date.now() - opened)));
    assert.equal(refreshed.client.state, 'connected');
    assert.equal(refreshed.seen.states.filter((s) => s === 'connecting').length, 1, 'one connection throughout');
    refreshed.client.close();
  });
});
