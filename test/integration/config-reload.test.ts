import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { ClientConnection } from '../../src/transports/ws/client-connection.js';
import { KEYS, uid } from '../helpers/env.js';
import {
  companyToken,
  spawnGateway,
  startGateway,
  userUrl,
  type ChildGateway,
  type RunningGateway,
} from '../helpers/gateway.js';
import { httpCall } from '../helpers/http-client.js';
import { TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait.js';
import { timingBound } from '../helpers/timing.js';

const secrets = {
  secret_token: KEYS.client,
  admin_secret_token: KEYS.admin,
  token_aes_key: KEYS.aes,
  admin_token_aes_key: KEYS.adminAes,
};

/**
 * A gateway process whose config.yaml is mounted the way a Kubernetes ConfigMap is:
 * config.yaml → ..data/config.yaml, ..data → ..<timestamp>/. Updates swap the ..data link.
 */
describe('configuration reload of a running gateway (ConfigMap layout)', () => {
  let dir: string;
  let gw: ChildGateway;
  let version = 0;
  const file = () => join(dir, 'config.yaml');
  const lines = (text: string) => gw.output.filter((l) => l.includes(text)).length;

  /** Writes a new version directory and swaps ..data to it atomically, as the kubelet does. */
  function publishVersion(doc: object | string): void {
    const name = `..v${++version}`;
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'config.yaml'), typeof doc === 'string' ? doc : stringify(doc));
    symlinkSync(name, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  }

  const mint = (seconds: number) =>
    httpCall(`${gw.http}/generate-token`, {
      json: { company_id: 'c', agent_id: 'a', user_id: 'u', expires_in_seconds: seconds },
      headers: { 'X-API-Key': KEYS.client },
    });
  const failedReloads = async () =>
    Number(
      /dws_config_reload_total\{result="failed"\} (\d+)/.exec((await httpCall(`${gw.http}/metrics`)).body)?.[1] ?? 0,
    );

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dws-configmap-'));
    publishVersion({ auth: { ...secrets, max_token_ttl_seconds: 1000 } });
    symlinkSync('..data/config.yaml', file());
    gw = await spawnGateway('127.0.0.12', {
      DAISI_WS_LOG_LEVEL: 'info', // the tests wait for its "configuration reloaded" lines
      DAISI_WS_CONFIG_PATH: dir,
      DAISI_WS_AUTH_SECRET_TOKEN: '',
      DAISI_WS_AUTH_ADMIN_SECRET_TOKEN: '',
      DAISI_WS_AUTH_TOKEN_AES_KEY: '',
      DAISI_WS_AUTH_ADMIN_TOKEN_AES_KEY: '',
    });
  });
  after(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sees a ConfigMap update (a swap of the ..data symlink) without SIGHUP', async () => {
    assert.equal((await mint(1000)).status, 200);
    const before = lines('configuration reloaded');
    publishVersion({ auth: { ...secrets, max_token_ttl_seconds: 500 } });
    await waitFor(() => lines('configuration reloaded') > before, 5000);
    assert.equal((await mint(1000)).status, 400);
    assert.equal((await mint(500)).status, 200);
  });

  for (const [what, change] of [
    ['removed', () => unlinkSync(file())],
    ['emptied', () => publishVersion({})],
    ['not valid YAML', () => publishVersion('auth: [\n  secret_token: "x\n')],
    ['invalid', () => publishVersion({ auth: { ...secrets, max_token_ttl_seconds: 'soon' } })],
    ['without its secrets', () => publishVersion({ auth: { max_token_ttl_seconds: 500 } })],
    ['a section that is not a mapping', () => publishVersion({ auth: 'none' })],
  ] as const) {
    it(`keeps the running configuration when the file is ${what}: one error line, the failure counted`, async () => {
      const errors = lines('configuration reload failed');
      const failed = await failedReloads();
      change();
      await waitFor(() => lines('configuration reload failed') > errors, 5000);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(lines('configuration reload failed'), errors + 1);
      assert.equal(await failedReloads(), failed + 1);
      // Secrets and limits are those of the running configuration: nothing answers 500.
      assert.equal((await mint(500)).status, 200);
      assert.equal((await mint(501)).status, 400);
      const session = await TestClient.ready(userUrl(gw.ws, 'c', 'a', companyToken('c', 'a', uid('u'))));
      await session.close();
      // Back to a good file, and on once it is the running one.
      const reloads = lines('configuration reloaded');
      try {
        unlinkSync(file());
      } catch {
        // already gone
      }
      publishVersion({ auth: { ...secrets, max_token_ttl_seconds: 500 } });
      symlinkSync('..data/config.yaml', file());
      await waitFor(() => lines('configuration reloaded') > reloads, 5000, 'the good file reloaded');
    });
  }

  it('SIGHUP reports the changed keys that need a restart', async () => {
    const before = lines('configuration reloaded');
    publishVersion({
      auth: secrets,
      app: { max_message_size_bytes: 1000, service_name: 'other' },
      nats: { stream_name: 'other' },
    });
    gw.process.kill('SIGHUP');
    await waitFor(() => lines('configuration reloaded') > before, 5000);
    const reported = gw.output
      .filter((l) => l.includes('configuration reloaded'))
      .map((l) => JSON.parse(l).restart_needed as string[]);
    assert.ok(
      reported.some((keys) =>
        ['app.service_name', 'app.max_message_size_bytes', 'nats.stream_name'].every((k) => keys.includes(k)),
      ),
      JSON.stringify(reported),
    );
  });
});

/** Keys that used to be read once: a reload now acts on connections that are already open. */
describe('formerly dead keys act on open connections after a reload', () => {
  let dir: string;
  let gw: RunningGateway;
  const write = (app: object) => writeFileSync(join(dir, 'config.yaml'), stringify({ app }));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dws-live-'));
    write({ max_client_frames_per_second: 50, ttl_refresh_interval_seconds: 60 });
    gw = await startGateway({ DAISI_WS_CONFIG_PATH: dir });
  });
  after(async () => {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('max_client_frames_per_second: a connection limited to 50 frames/s is limited to 5 after the reload', async () => {
    const client = await TestClient.ready(userUrl(gw.ws, 'c', 'a', companyToken('c', 'a', uid('u'))));
    for (let i = 0; i < 8; i++) client.send({ type: 'ready', n: i });
    await client.next((f) => (f as { n?: number }).n === 7);
    assert.equal(client.frames.filter((f) => f.type === 'error').length, 0);
    write({ max_client_frames_per_second: 5, ttl_refresh_interval_seconds: 60 });
    assert.equal(gw.store.reload().ok, true);
    await new Promise((r) => setTimeout(r, 1100)); // a fresh one-second window
    for (let i = 0; i < 8; i++) client.send({ type: 'ready', m: i });
    const error = await client.next((f) => f.type === 'error');
    assert.equal(error.payload.code, 'RateLimitExceeded');
    assert.equal(client.frames.filter((f) => (f as { m?: number }).m !== undefined).length, 5);
    await client.close();
  });

  it('websocket_message_buffer_size and the drop policy: an open connection queues at most the new size', async () => {
    const company = uid('c');
    const user = uid('u');
    const slow = await TestClient.ready(userUrl(gw.ws, company, 'a', companyToken(company, 'a', user)));
    (slow.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    slow.socket.on('error', () => undefined);
    const connection = gw.gateway.registry.get(`session:${company}:a:${user}`) as ClientConnection;
    write({
      websocket_message_buffer_size: 3,
      websocket_backpressure_drop_policy: 'drop_oldest',
      ttl_refresh_interval_seconds: 60,
    });
    assert.equal(gw.store.reload().ok, true);
    let maxQueued = 0;
    for (let i = 0; i < 100; i++) {
      await gw.gateway.engine.stream.publish(
        `wa.${company}.a.chats`,
        Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(64 * 1024) })),
      );
      await new Promise((r) => setImmediate(r));
      maxQueued = Math.max(maxQueued, connection.queued);
    }
    assert.equal(maxQueued, 3);
    slow.socket.terminate();
  });

  it('ttl_refresh_interval_seconds: the renewal loop moves to the new interval at once', async () => {
    const attempts = async () =>
      (
        ((await httpCall(`${gw.http}/metrics`)).body as string).match(
          /^dws_session_lock_renewal_attempts_total\{[^}]*\} \d+/gm,
        ) ?? []
      ).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    const client = await TestClient.ready(userUrl(gw.ws, 'c', 'a', companyToken('c', 'a', uid('u'))));
    const before = await attempts();
    write({ ttl_refresh_interval_seconds: 1 });
    assert.equal(gw.store.reload().ok, true);
    await waitFor(async () => (await attempts()) >= before + 2, 5000);
    await client.close();
  });

  it('idle_timeout_seconds: a keep-alive connection from before the reload closes after the new timeout', async () => {
    write({ idle_timeout_seconds: 1, ttl_refresh_interval_seconds: 60 });
    assert.equal(gw.store.reload().ok, true);
    const { connect } = await import('node:net');
    const socket = connect(Number(new URL(gw.http).port), '127.0.0.1');
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
    let reply = '';
    socket.on('data', (d) => (reply += d.toString()));
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    const started = Date.now();
    const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(0), 5000))]);
    socket.destroy();
    assert.ok(at > 0, `the idle connection was closed; ${reply}`);
    timingBound(at - started < 3000, `closed ${at - started} ms after the reply`);
  });
});
