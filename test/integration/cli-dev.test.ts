import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePortNumber } from '../helpers/env.js';
import { waitFor } from '../helpers/wait.js';
import { TestClient } from '../helpers/ws-client.js';

const CLI = new URL('../../src/app/cli.ts', import.meta.url).pathname;
const TSX = import.meta.resolve('tsx');

/**
 * A new user's first minutes (README, *Two commands*): `daisi-ws start` in development with nothing
 * configured, then the CLI from the same folder, with no key passed by hand.
 */
describe('the CLI after a development start', { timeout: 60_000 }, () => {
  const port = freePortNumber();
  let dir: string;
  let gateway: ChildProcess | undefined;
  let output = '';
  // Only what a newcomer has: no secrets, no Redis or NATS configured.
  const env = () => {
    const clean: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DAISI_WS_') && k !== 'NODE_ENV') clean[k] = v;
    return {
      ...clean,
      DAISI_WS_SERVER_HOST: '127.0.0.1',
      DAISI_WS_SERVER_HTTP_PORT: String(port),
      DAISI_WS_LOG_LEVEL: 'error',
    };
  };
  const cli = (...args: string[]) => {
    const run = spawnSync(process.execPath, ['--import', TSX, CLI, ...args], {
      cwd: dir,
      env: env(),
      encoding: 'utf8',
    });
    return { code: run.status, out: run.stdout, err: run.stderr };
  };
  const startGateway = async () => {
    output = '';
    gateway = spawn(process.execPath, ['--import', TSX, CLI, 'start'], { cwd: dir, env: env() });
    gateway.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    gateway.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await waitFor(() => output.includes('export DAISI_WS_ADMIN_KEY='), 20_000, 'the start banner');
  };
  const stopGateway = async () => {
    const exited = new Promise((resolve) => gateway?.once('exit', resolve));
    gateway?.kill('SIGTERM');
    await exited;
  };
  const adminKeyShown = () => /export DAISI_WS_ADMIN_KEY=([0-9a-f]+)/.exec(output)?.[1];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'daisi-dev-'));
    await startGateway();
  });
  after(async () => {
    await stopGateway();
    rmSync(dir, { recursive: true, force: true });
  });

  it('start prints the pages and the export line, and keeps the keys in .daisi-ws/dev-secrets.json (0600)', () => {
    assert.match(output, new RegExp(`operator page: +http://127\\.0\\.0\\.1:${port}/admin`));
    assert.match(output, /generated now: DAISI_WS_AUTH_SECRET_TOKEN, DAISI_WS_AUTH_ADMIN_SECRET_TOKEN/);
    assert.equal(statSync(join(dir, '.daisi-ws', 'dev-secrets.json')).mode & 0o777, 0o600);
  });

  it('token mints with the generated keys: the token opens a session on the running gateway', async () => {
    const token = cli('token', '--company', 'acme', '--agent', 'agent-1', '--user', 'alice');
    assert.equal(token.code, 0, token.err);
    const clientKey = /client API key \(X-API-Key\): +([0-9a-f]+)/.exec(output)![1];
    const url = `ws://127.0.0.1:${port}/ws/acme/agent-1?token=${token.out.trim()}&x-api-key=${clientKey}`;
    const client = await TestClient.ready(url);
    const published = cli(
      'publish',
      '--company',
      'acme',
      '--agent',
      'agent-1',
      '--kind',
      'chats',
      '--event',
      '{"event_id":"e1"}',
    );
    assert.equal(published.code, 0, `publish with no key passed: ${published.err}`);
    const [event] = await client.waitEvents(1);
    assert.equal(event!.payload.event_id, 'e1');
    const sessions = cli('sessions', '--json');
    assert.equal(sessions.code, 0, sessions.err);
    assert.deepEqual(
      JSON.parse(sessions.out).sessions.map((s: { user_id: string }) => s.user_id),
      ['alice'],
    );
    await client.close();
  });

  it('one admin key variable for every operator verb: DAISI_WS_ADMIN_KEY wins over the saved key', () => {
    const run = (args: string[], extra: Record<string, string>) =>
      spawnSync(process.execPath, ['--import', TSX, CLI, ...args], {
        cwd: dir,
        env: { ...env(), ...extra },
        encoding: 'utf8',
      });
    for (const args of [
      ['sessions'],
      ['publish', '--company', 'c', '--agent', 'a', '--kind', 'chats', '--event', '{}'],
    ]) {
      const wrong = run(args, { DAISI_WS_ADMIN_KEY: 'wrong' });
      assert.equal(wrong.status, 1, args[0]);
      assert.match(wrong.stderr, /401|403/, `${args[0]}: the variable's key was sent`);
      assert.equal(run(args, { DAISI_WS_ADMIN_KEY: adminKeyShown()! }).status, 0, args[0]);
    }
  });

  it('each command has its own --help', () => {
    for (const command of ['token', 'publish', 'sessions', 'disconnect', 'check-config']) {
      const help = cli(command, '--help');
      assert.equal(help.code, 0);
      assert.match(help.out, new RegExp(`^Usage:\\n  daisi-ws ${command} `), command);
      assert.equal(help.out.match(/ {2}daisi-ws \w/g)?.length, 1, `${command}: its own usage only`);
    }
  });

  it('a restart keeps the keys: a demo URL from before still works', async () => {
    const before = adminKeyShown();
    await stopGateway();
    await startGateway();
    assert.equal(adminKeyShown(), before);
    assert.match(output, /the ones generated before/);
  });
});
