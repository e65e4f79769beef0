import assert from 'node:assert/strict';
import { configTable, readmeTable } from '../../scripts/config-reference.js';
import { mkdtempSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/domain/errors.js';
import { loadConfig } from '../../src/platform/config/load.js';
import { allKeys, envNameOf } from '../../src/platform/config/schema.js';
import { ConfigStore } from '../../src/platform/config/store.js';
import { engineKindOf } from '../../src/app/engine.js';

const FIXTURES = new URL('../fixtures/seed/', import.meta.url).pathname;

function dirWith(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'dws-config-'));
  writeFileSync(join(dir, 'config.yaml'), yaml);
  return dir;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  return assert.fail('expected a ConfigError');
}

function parseEnvFile(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#') && l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('configuration', () => {
  it("loads the Go service's config.yaml unchanged, placeholders reported as not configured", () => {
    const { config, warnings } = loadConfig({ env: { DAISI_WS_CONFIG_PATH: FIXTURES }, cwd: '/' });
    assert.equal(config.nats.url, 'nats://nats:4222');
    assert.equal(config.redis.address, 'redis:6379');
    assert.equal(config.app.route_ttl_seconds, 300);
    assert.equal(config.adaptive_ttl.message_route.enabled, true);
    assert.equal(config.auth.secret_token, '');
    assert.equal(config.auth.token_aes_key, '');
    assert.ok(warnings.some((w) => w.includes('auth.token_aes_key is a placeholder')));
    assert.ok(warnings.some((w) => w.includes('unknown configuration key redis.session_lock_retry_delay_ms')));
  });

  it("loads the Go service's env.example on top of it", () => {
    const env = { ...parseEnvFile(join(FIXTURES, 'env.example')), DAISI_WS_CONFIG_PATH: FIXTURES };
    const { config } = loadConfig({ env, cwd: '/' });
    assert.equal(config.server.pod_id, 'ws-service-1');
    assert.equal(config.server.enable_reflection, true);
    assert.equal(config.log.level, 'debug');
    assert.equal(config.auth.token_aes_key, '270cec3a9081be630f5350bc42b244156615e55a2153e2652dc4f460673350c6');
    assert.equal(config.nats.url, 'nats://localhost:4222');
  });

  it('lets DAISI_WS_<SECTION>_<KEY> override every key', () => {
    const dir = dirWith('app:\n  websocket_message_buffer_size: 5\n');
    const { config } = loadConfig({
      env: {
        DAISI_WS_CONFIG_PATH: dir,
        DAISI_WS_APP_WEBSOCKET_MESSAGE_BUFFER_SIZE: '7',
        DAISI_WS_ADAPTIVE_TTL_SESSION_LOCK_ENABLED: 'true',
        DAISI_WS_SERVER_HOST: '127.0.0.2',
      },
    });
    assert.equal(config.app.websocket_message_buffer_size, 7);
    assert.equal(config.adaptive_ttl.session_lock.enabled, true);
    assert.equal(config.server.host, '127.0.0.2');
    assert.equal(
      envNameOf(['adaptive_ttl', 'chat_route', 'min_ttl_seconds']),
      'DAISI_WS_ADAPTIVE_TTL_CHAT_ROUTE_MIN_TTL_SECONDS',
    );
    assert.ok(allKeys().length > 60);
  });

  it('an empty environment variable is unset: the file keeps its value (as viper does)', () => {
    const dir = dirWith('auth:\n  secret_token: from-file\nserver:\n  http_port: 9000\n');
    const { config } = loadConfig({
      env: { DAISI_WS_CONFIG_PATH: dir, DAISI_WS_AUTH_SECRET_TOKEN: '', DAISI_WS_SERVER_HTTP_PORT: '' },
    });
    assert.equal(config.auth.secret_token, 'from-file');
    assert.equal(config.server.http_port, 9000);
  });

  it('server.allowed_origins takes exact origins and *.domain patterns; anything else is one problem each', () => {
    const env = { DAISI_WS_SERVER_ALLOWED_ORIGINS: 'https://crm.example.com, *.example.org, https://*.example.net' };
    assert.deepEqual(loadConfig({ env }).config.server.allowed_origins, [
      'https://crm.example.com',
      '*.example.org',
      'https://*.example.net',
    ]);
    const problems = problemsOf(() =>
      loadConfig({ env: { DAISI_WS_SERVER_ALLOWED_ORIGINS: 'crm.example.com,https://x.example/app,*example.com' } }),
    );
    assert.deepEqual(problems, [
      'DAISI_WS_SERVER_ALLOWED_ORIGINS[0]: crm.example.com is not an origin (scheme://host[:port])',
      'DAISI_WS_SERVER_ALLOWED_ORIGINS[1]: https://x.example/app is not an origin (scheme://host[:port], no path)',
      'DAISI_WS_SERVER_ALLOWED_ORIGINS[2]: *example.com is not a pattern: write *.example.com or https://*.example.com',
    ]);
  });

  it('reads lists from YAML and comma-separated variables, and refuses addresses that are not IPs or CIDRs', () => {
    const dir = dirWith('grpc:\n  allowed_peers: ["10.0.0.0/8", "192.168.1.7", "fd00::/8"]\n');
    assert.deepEqual(loadConfig({ env: { DAISI_WS_CONFIG_PATH: dir } }).config.grpc.allowed_peers, [
      '10.0.0.0/8',
      '192.168.1.7',
      'fd00::/8',
    ]);
    const env = { DAISI_WS_CONFIG_PATH: dir, DAISI_WS_AUTH_PREVIOUS_SECRET_TOKENS: 'old-1, old-2' };
    assert.deepEqual(loadConfig({ env }).config.auth.previous_secret_tokens, ['old-1', 'old-2']);
    assert.deepEqual(loadConfig({ env: {} }).config.auth.previous_token_aes_keys, []);
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          DAISI_WS_CONFIG_PATH: dir,
          DAISI_WS_GRPC_ALLOWED_PEERS: '10.0.0.0/33,pod-a',
          DAISI_WS_AUTH_PREVIOUS_TOKEN_AES_KEYS: 'abc',
        },
      }),
    );
    assert.deepEqual(problems, [
      'DAISI_WS_GRPC_ALLOWED_PEERS[0] must be an IP address or a CIDR (got "10.0.0.0/33")',
      'DAISI_WS_GRPC_ALLOWED_PEERS[1] must be an IP address or a CIDR (got "pod-a")',
      'DAISI_WS_AUTH_PREVIOUS_TOKEN_AES_KEYS[0] must be 64 hexadecimal characters (got 3 characters)',
    ]);
  });

  it('cdc.tables adds tables, moves id columns and leaves tables out, from YAML or JSON in the environment', () => {
    assert.deepEqual(Object.keys(loadConfig({ env: {} }).config.cdc.tables), ['chats', 'messages', 'agents']);
    const dir = dirWith(
      'cdc:\n  tables:\n    tickets: { subject: chats, agent_column: owner_id, chat_column: ticket_id }\n' +
        '    agents: false\n    messages: { agent_column: author }\n',
    );
    const tables = loadConfig({ env: { DAISI_WS_CONFIG_PATH: dir } }).config.cdc.tables;
    assert.deepEqual(tables, {
      chats: { kind: 'chats', agentColumn: 'agent_id', chatColumn: 'chat_id' },
      messages: { kind: 'messages', agentColumn: 'author', chatColumn: 'chat_id', messageColumn: 'message_id' },
      tickets: { kind: 'chats', agentColumn: 'owner_id', chatColumn: 'ticket_id' },
    });
    const env = { DAISI_WS_CDC_TABLES: '{"notes":{"subject":"messages","chat_column":"thread"}}' };
    assert.deepEqual(loadConfig({ env }).config.cdc.tables.notes, {
      kind: 'messages',
      agentColumn: 'agent_id',
      chatColumn: 'thread',
      messageColumn: 'message_id',
    });
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          DAISI_WS_CONFIG_PATH: dirWith(
            'cdc:\n  tables:\n    tickets: { subject: tickets }\n    notes: { agent_column: 7, colour: red }\n',
          ),
        },
      }),
    );
    assert.deepEqual(problems, [
      'cdc.tables.tickets.subject must be one of chats, messages, agents (got "tickets")',
      'cdc.tables.notes has unknown keys: colour',
      'cdc.tables.notes.subject must be one of chats, messages, agents (got null)',
    ]);
    assert.deepEqual(
      problemsOf(() => loadConfig({ env: { DAISI_WS_CDC_TABLES: 'tickets=chats' } })),
      [
        'DAISI_WS_CDC_TABLES must be a mapping of tables (JSON in the environment), e.g. {"tickets":{"subject":"chats"}}',
      ],
    );
  });

  it('takes several NATS servers, stream replicas and Redis Sentinel addresses; one line for each bad value', () => {
    const env = {
      DAISI_WS_NATS_URL: 'nats://127.0.0.1:4301, nats://127.0.0.1:4302,127.0.0.1:4303',
      DAISI_WS_NATS_STREAM_REPLICAS: '3',
      DAISI_WS_REDIS_SENTINEL_ADDRESSES: '127.0.0.1:26379,sentinel-1.redis:26379,[::1]:26380',
      DAISI_WS_REDIS_SENTINEL_MASTER_NAME: 'dws',
    };
    const { config } = loadConfig({ env });
    assert.equal(config.nats.stream_replicas, 3);
    assert.deepEqual(config.redis.sentinel_addresses, ['127.0.0.1:26379', 'sentinel-1.redis:26379', '[::1]:26380']);
    assert.equal(engineKindOf(config), 'cluster', 'Sentinel without redis.address is a cluster');
    assert.equal(loadConfig({ env: {} }).config.nats.stream_replicas, 1);
    assert.deepEqual(
      problemsOf(() =>
        loadConfig({
          env: {
            DAISI_WS_NATS_URL: 'nats://a:4222,http://b:4222',
            DAISI_WS_NATS_STREAM_REPLICAS: '7',
            DAISI_WS_REDIS_SENTINEL_ADDRESSES: '127.0.0.1:26379,sentinel-2',
          },
        }),
      ),
      [
        'DAISI_WS_NATS_URL: "http://b:4222" has scheme http: (nats:// or tls://)',
        'DAISI_WS_NATS_STREAM_REPLICAS must be at most 5 (got 7)',
        'DAISI_WS_REDIS_SENTINEL_ADDRESSES[1] must be host:port (got "sentinel-2")',
      ],
    );
    const noMaster = loadConfig({ env: { ...env, DAISI_WS_REDIS_SENTINEL_MASTER_NAME: undefined } }).config;
    assert.deepEqual(
      problemsOf(() => engineKindOf(noMaster)),
      ['redis.sentinel_addresses and redis.sentinel_master_name go together: set both or neither'],
    );
  });

  it('turns the publish API and the demo page off by default when NODE_ENV=production', () => {
    const dev = loadConfig({ env: {} }).config.app;
    const prod = loadConfig({ env: { NODE_ENV: 'production' } }).config.app;
    assert.deepEqual([dev.enable_publish_api, dev.enable_demo_page], [true, true]);
    assert.deepEqual([prod.enable_publish_api, prod.enable_demo_page], [false, false]);
    const asked = loadConfig({ env: { NODE_ENV: 'production', DAISI_WS_APP_ENABLE_DEMO_PAGE: 'true' } }).config.app;
    assert.equal(asked.enable_demo_page, true);
  });

  it('reports every problem at once, naming the key', () => {
    const dir = dirWith('app:\n  ping_interval_seconds: "soon"\n  websocket_backpressure_drop_policy: spill\n');
    const problems = problemsOf(() =>
      loadConfig({
        env: { DAISI_WS_CONFIG_PATH: dir, DAISI_WS_AUTH_TOKEN_AES_KEY: 'abc', DAISI_WS_APP_SESSION_TTL_SECONDS: '-3' },
      }),
    );
    assert.equal(problems.length, 4);
    assert.ok(problems.some((p) => p.startsWith('app.ping_interval_seconds must be a whole number')));
    assert.ok(
      problems.some((p) => p.startsWith('app.websocket_backpressure_drop_policy must be one of drop_oldest, block')),
    );
    assert.ok(problems.some((p) => p.startsWith('DAISI_WS_AUTH_TOKEN_AES_KEY must be 64 hexadecimal characters')));
    assert.ok(problems.some((p) => p.startsWith('DAISI_WS_APP_SESSION_TTL_SECONDS must be at least 1')));
  });

  it('refuses one engine address without the other', () => {
    const { config } = loadConfig({
      env: { DAISI_WS_CONFIG_PATH: dirWith(''), DAISI_WS_NATS_URL: 'nats://127.0.0.1:4222' },
    });
    assert.throws(() => engineKindOf(config), ConfigError);
  });

  it('reloads a changed file and keeps the old config when the new one is invalid', () => {
    const dir = dirWith('log:\n  level: info\n');
    const store = new ConfigStore({ env: { DAISI_WS_CONFIG_PATH: dir } });
    const seen: string[] = [];
    store.onChange((next) => seen.push(next.log.level));
    writeFileSync(join(dir, 'config.yaml'), 'log:\n  level: debug\nserver:\n  http_port: 9999\n');
    const ok = store.reload();
    assert.equal(ok.ok, true);
    assert.deepEqual(ok.restartNeeded, ['server.http_port']);
    assert.equal(store.get().log.level, 'debug');
    writeFileSync(join(dir, 'config.yaml'), 'log:\n  level: loud\n');
    const bad = store.reload();
    assert.equal(bad.ok, false);
    assert.match(bad.error ?? '', /log.level must be one of/);
    assert.equal(store.get().log.level, 'debug');
    assert.deepEqual(seen, ['debug']);
  });

  it('reloads on SIGHUP', async () => {
    const dir = dirWith('log:\n  level: info\n');
    copyFileSync(join(dir, 'config.yaml'), join(dir, 'config.yaml.bak'));
    const store = new ConfigStore({ env: { DAISI_WS_CONFIG_PATH: dir } });
    const reloaded = new Promise<string>((resolve) => store.onReload((source) => resolve(source)));
    store.watch();
    writeFileSync(join(dir, 'config.yaml'), 'log:\n  level: warn\n');
    process.kill(process.pid, 'SIGHUP');
    const source = await reloaded;
    store.close();
    assert.ok(source === 'SIGHUP' || source === 'file change');
    assert.equal(store.get().log.level, 'warn');
  });

  it('freezes the loaded config', () => {
    const { config } = loadConfig({ env: { DAISI_WS_CONFIG_PATH: dirWith('') } });
    assert.throws(() => ((config.app as { version: string }).version = 'x'));
  });

  it("README.md's configuration table is the schema's (npx tsx scripts/config-reference.ts --write)", () => {
    assert.equal(readmeTable(), configTable());
  });
});
