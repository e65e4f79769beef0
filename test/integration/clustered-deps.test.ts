import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { nats210, TestNatsCluster } from '../../support/nats-cluster.js';
import { TestRedisSentinel, MASTER_NAME } from '../../support/redis-sentinel.js';
import { baseEnv, KEYS, REDIS_ADDRESS, uid } from '../helpers/env.js';
import { companyToken, spawnGateway, userUrl, type ChildGateway } from '../helpers/gateway.js';
import { TestPublisher } from '../helpers/publisher.js';
import { waitFor } from '../helpers/wait.js';
import { TestClient } from '../helpers/ws-client.js';
import { TestNatsServer } from '../../support/nats-server.js';
import { timingBound } from '../helpers/timing.js';

/**
 * The clustered dependencies' configuration (SPEC §19, docs/deploy.md): a pod on a three-server
 * JetStream cluster (several URLs in nats.url, nats.stream_replicas), a pod on Redis Sentinel
 * (redis.sentinel_addresses without redis.address), and one line for a bad value of each.
 */
const binary = nats210();

describe('a pod on a three-server JetStream cluster', {
  skip: !binary && 'no nats-server 2.10',
  timeout: 120_000,
}, () => {
  let cluster: TestNatsCluster;
  let pod: ChildGateway;
  const stream = uid('r3');
  const [company, agent] = [uid('c'), 'agent-1'];

  before(async () => {
    cluster = await TestNatsCluster.start(binary);
    pod = await spawnGateway('127.0.0.91', {
      DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
      DAISI_WS_NATS_URL: cluster.url,
      DAISI_WS_NATS_STREAM_NAME: stream,
      DAISI_WS_NATS_STREAM_REPLICAS: '3',
    });
  });
  after(async () => {
    await pod?.kill();
    await cluster?.stop();
  });

  it('creates the stream with three replicas, one on each server', async () => {
    const info = await cluster.streamInfo(stream);
    assert.equal(info.config.num_replicas, 3);
    assert.ok(info.cluster?.leader, 'a leader');
    assert.equal(info.cluster?.replicas?.length, 2, 'and two followers');
  });

  it('delivers, and keeps delivering when the server it is connected to is killed (it moves to another)', async () => {
    const client = await TestClient.ready(userUrl(pod.ws, company, agent, companyToken(company, agent, uid('u'))));
    const pub = await TestPublisher.connect(cluster.url);
    try {
      const subject = `wa.${company}.${agent}.chats`;
      await pub.publishUntilStored(subject, { event_id: 'before', company_id: company }, 'before');
      await client.waitEvents(1);
      // The stream leader is where the republish happens (interest reading): its loss is the hard case.
      const leader = await cluster.leaderOf(stream);
      await cluster.kill(leader);
      for (let i = 0; i < 20; i++)
        await pub.publishUntilStored(subject, { event_id: `after-${i}`, company_id: company }, `after-${i}`);
      const got = await client.waitEvents(21, 20_000);
      assert.deepEqual(
        got.map((f) => f.payload.event_id),
        ['before', ...Array.from({ length: 20 }, (_, i) => `after-${i}`)],
      );
      await waitFor(async () => (await fetch(`${pod.http}/ready`)).status === 200, 15_000, 'the pod is ready again');
      // Back, and caught up: the next test's fault must find three current copies, as a cluster in service has.
      await cluster.run(leader);
      await cluster.caughtUp(stream);
    } finally {
      await pub.close();
      await client.close();
    }
  });
  it('the publish API answers 200 through a leader election, each event stored once', async () => {
    const leader = await cluster.leaderOf(stream);
    await cluster.kill(leader);
    try {
      const subject = `wa.${company}.agent-3.chats`;
      const started = Date.now();
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${pod.http}/api/publish`, {
          method: 'POST',
          headers: { 'X-API-Key': KEYS.admin, 'Content-Type': 'application/json', 'X-Request-ID': `election-${i}` },
          body: JSON.stringify({ subject, event: { event_id: `election-${i}`, company_id: company } }),
        });
        assert.equal(res.status, 200, await res.text());
      }
      const stored = (await cluster.streamInfo(stream, { subjects_filter: subject })).state.subjects;
      assert.deepEqual(stored, { [subject]: 5 }, 'each once');
      console.log(`# five publishes through the election in ${Date.now() - started} ms`);
    } finally {
      await cluster.run(leader);
      await cluster.caughtUp(stream);
    }
  });

  it('leaves a server that stops answering (SIGSTOP) within seconds: events arrive while it is still paused', async () => {
    const client = await TestClient.ready(
      userUrl(pod.ws, company, 'agent-2', companyToken(company, 'agent-2', uid('u'))),
    );
    await cluster.caughtUp(stream);
    const paused = await cluster.serverOf('consumer-127.0.0.91');
    const others = cluster.nodes.filter((_, i) => i !== paused).map((n) => n.url);
    const pub = await TestPublisher.connect(others.join(','));
    const pausedAt = Date.now();
    cluster.signal(paused, 'SIGSTOP');
    try {
      const subject = `wa.${company}.agent-2.chats`;
      for (let i = 0; i < 10; i++)
        await pub.publishUntilStored(subject, { event_id: `p-${i}`, company_id: company }, `p-${i}`);
      const got = await client.waitEvents(10, 20_000);
      assert.deepEqual(
        got.map((f) => f.payload.event_id),
        Array.from({ length: 10 }, (_, i) => `p-${i}`),
      );
      const moved = pod.output.find((l) => l.includes('moving to another'));
      assert.ok(moved, 'the pod says it left the server');
      console.log(
        `# the pod left the paused server ${Date.parse(JSON.parse(moved).timestamp) - pausedAt} ms after SIGSTOP`,
      );
    } finally {
      cluster.signal(paused, 'SIGCONT');
      await pub.close();
      await client.close();
    }
  });
});

describe('a pod on Redis Sentinel, without redis.address', { timeout: 120_000 }, () => {
  let sentinel: TestRedisSentinel;
  let nats: TestNatsServer;
  let pod: ChildGateway;
  let other: ChildGateway;

  before(async () => {
    [sentinel, nats] = await Promise.all([TestRedisSentinel.start(), TestNatsServer.start()]);
    const env = {
      DAISI_WS_REDIS_SENTINEL_ADDRESSES: sentinel.sentinelAddresses.join(','),
      DAISI_WS_REDIS_SENTINEL_MASTER_NAME: MASTER_NAME,
      DAISI_WS_NATS_URL: nats.url,
    };
    [pod, other] = await Promise.all([spawnGateway('127.0.0.92', env), spawnGateway('127.0.0.93', env)]);
  });
  after(async () => {
    await pod?.kill();
    await other?.kill();
    await sentinel?.stop();
    await nats?.stop();
  });

  it('keeps its session lock in the master the sentinels name, and follows the new one after a failover', async () => {
    const company = uid('c');
    const user = uid('u');
    const first = await TestClient.ready(userUrl(pod.ws, company, 'a1', companyToken(company, 'a1', user)));
    const master = new Redis(`redis://${await sentinel.master()}`).on('error', () => undefined);
    assert.ok((await master.keys(`session:${company}:a1:${user}*`)).length > 0, 'the lock is in the master');
    master.disconnect();
    await first.close();

    const promoted = await sentinel.failover();
    // Handshakes need Redis (the lock): once the pod follows the new master they pass again.
    const started = Date.now();
    let second: TestClient | undefined;
    await waitFor(
      async () => {
        second = await TestClient.ready(userUrl(pod.ws, company, 'a2', companyToken(company, 'a2', uid('u')))).catch(
          () => undefined,
        );
        return second !== undefined;
      },
      20_000,
      'a handshake passes after the failover',
    );
    const onNew = new Redis(`redis://${promoted}`).on('error', () => undefined);
    assert.ok((await onNew.keys(`session:${company}:a2:*`)).length > 0, 'the new lock is in the new master');
    onNew.disconnect();
    await second?.close();
    await waitFor(async () => (await fetch(`${pod.http}/ready`)).status === 200, 10_000, '/ready says ready');
    console.log(`# handshakes passed again ${Date.now() - started} ms after the sentinels named ${promoted}`);
  });

  it('a lock lost in the failover: the older session ends within a second of the newer one, not at the next renewal', async () => {
    const company = uid('c');
    const user = uid('u');
    const url = (ws: string) => userUrl(ws, company, 'a1', companyToken(company, 'a1', user));
    // The replica paused while the lock is written: the replica promoted next has never seen it.
    const replica = await sentinel.replica();
    sentinel.signal(replica, 'SIGSTOP');
    let older: TestClient;
    await sentinel.failover(true, async () => {
      older = await TestClient.ready(url(pod.ws));
      sentinel.signal(replica, 'SIGCONT');
    });
    let newer: TestClient | undefined;
    await waitFor(
      async () => {
        newer = await TestClient.ready(url(other.ws)).catch(() => undefined);
        return newer !== undefined;
      },
      20_000,
      'the same user connects to the other pod after the failover',
    );
    const newerAt = Date.now();
    const closed = await Promise.race([older!.closed, new Promise<undefined>((r) => setTimeout(r, 5000))]);
    assert.ok(closed, 'the older session ended (the renewal interval is 10 s)');
    const overlapMs = Date.now() - newerAt;
    timingBound(overlapMs < 1000, `both open ${overlapMs} ms`);
    await newer!.close();
  });
});

describe('a bad value of each clustered setting', () => {
  const CLI = new URL('../../src/app/cli.ts', import.meta.url).pathname;
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ DAISI_WS_NATS_URL: 'nats://127.0.0.1:4222,http://127.0.0.1:4223' }, /DAISI_WS_NATS_URL: .*http:/],
    [{ DAISI_WS_NATS_STREAM_REPLICAS: '0' }, /DAISI_WS_NATS_STREAM_REPLICAS must be at least 1 \(got 0\)/],
    [{ DAISI_WS_REDIS_SENTINEL_ADDRESSES: 'sentinel-a' }, /DAISI_WS_REDIS_SENTINEL_ADDRESSES\[0\] must be host:port/],
    [
      { DAISI_WS_REDIS_SENTINEL_ADDRESSES: '127.0.0.1:26379', DAISI_WS_REDIS_ADDRESS: '' },
      /redis.sentinel_addresses and redis.sentinel_master_name go together/,
    ],
  ];
  for (const [env, message] of cases) {
    it(`${Object.keys(env)[0]}: refused at start in one line`, () => {
      const run = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'check-config'], {
        env: { ...process.env, ...baseEnv({ DAISI_WS_NATS_URL: 'nats://127.0.0.1:4222', ...env }) },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.notEqual(run.status, 0);
      const lines = run.stderr.trim().split('\n');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0]!, message);
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    });
  }
});
