import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { describe, it } from 'node:test';
import { NatsEventStream } from '../../src/adapters/nats/nats-event-stream.js';
import { InboxWire } from '../../src/adapters/nats/inbox-wire.js';
import { PgReplicationSlot } from '../../src/adapters/postgres/replication-slot.js';
import { RedisKillSwitch } from '../../src/adapters/redis/kill-switch.js';
import { RedisBlockStore, RedisPodDirectory } from '../../src/adapters/redis/operator.js';
import { RedisRouteRegistry } from '../../src/adapters/redis/route-registry.js';
import { RedisSessionLocks } from '../../src/adapters/redis/session-locks.js';
import { RedisTokenCache } from '../../src/adapters/redis/token-cache.js';
import { DependencyError, type Dependency } from '../../src/domain/errors.js';
import { freePortNumber, uid } from '../helpers/env.js';

/** What a call of an adapter failed with: the project's error, 503, naming its dependency, the library's error as cause. */
async function failure(call: Promise<unknown>, dependency: Dependency): Promise<Error> {
  const err = await call.then(
    () => assert.fail('the call succeeded'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof DependencyError, `${String(err)} is a DependencyError`);
  assert.deepEqual([err.dependency, err.code, err.httpStatus], [dependency, 'ServiceUnavailable', 503]);
  assert.ok(err.cause instanceof Error, 'the cause is kept');
  return err.cause;
}

describe('adapters translate library failures into the project error, with the cause', () => {
  it('Redis (ioredis): every adapter, against a Redis that is not there', async () => {
    // A port nobody listens on, no offline queue and no retries: ioredis fails each command at once.
    const redis = new Redis(`redis://127.0.0.1:${freePortNumber()}`, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    });
    redis.on('error', () => undefined);
    try {
      const key = `session:${uid()}`;
      const causes = [
        await failure(new RedisSessionLocks(redis).acquire(key, 'pod', 30), 'redis'),
        await failure(new RedisSessionLocks(redis).refresh([[key, 30]], 'pod'), 'redis'),
        await failure(new RedisRouteRegistry(redis).add(`route:${uid()}`, 'pod', 30), 'redis'),
        await failure(new RedisRouteRegistry(redis).podIds(), 'redis'),
        await failure(new RedisTokenCache(redis).get(`token:${uid()}`), 'redis'),
        await failure(new RedisTokenCache(redis).set(`token:${uid()}`, 'v', 30), 'redis'),
        await failure(new RedisBlockStore(redis).inForce(Date.now()), 'redis'),
        await failure(new RedisPodDirectory(redis, 'S').announce('pod', Date.now()), 'redis'),
        await failure(new RedisKillSwitch(redis).publish('kill', { new_pod_id: 'p' }), 'redis'),
      ];
      for (const cause of causes) assert.match(cause.message, /writeable|enableOfflineQueue/);
    } finally {
      redis.disconnect();
    }
  });

  it('NATS (nats.js): the event stream on a closed connection; the reader connection to no server', async () => {
    const nc = await connect({ servers: '127.0.0.1:4222' });
    const streamName = uid('errors_');
    const stream = new NatsEventStream(
      {
        streamName,
        createStream: true,
        replicas: 1,
        podId: 'p',
        readMode: 'interest',
        republishPrefix: 'dws',
        lingerMs: 1000,
        heartbeatMs: 1000,
        inactiveMs: 5000,
        ownConnection: true,
      },
      {
        reading: () => undefined,
        readingWholeStream: () => undefined,
        republishAdded: () => undefined,
        readerReset: () => undefined,
        epochChanged: () => undefined,
        readerFailed: () => undefined,
      },
    );
    await stream.start({
      deliver: () => undefined,
      startingAt: () => undefined,
      lostInTransit: () => undefined,
      epochChanged: () => undefined,
    });
    await stream.attach(nc);
    try {
      assert.ok((await stream.bounds()).last >= 0, 'answers while connected');
      await nc.close();
      const cause = await failure(stream.bounds(), 'nats');
      assert.match(cause.name, /Closed/i, `${cause.name}: nats.js says the connection is closed`);
    } finally {
      await stream.stop();
      const admin = await connect({ servers: '127.0.0.1:4222' });
      await (await jetstreamManager(admin)).streams.delete(streamName).catch(() => undefined);
      await admin.close();
    }
    const refused = await failure(
      InboxWire.open(`127.0.0.1:${freePortNumber()}`, '', 'test', {
        data: () => undefined,
        control: () => undefined,
        lost: () => undefined,
      }),
      'nats',
    );
    assert.equal((refused as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  });

  it('Postgres (pg): the replication slot, against a server that is not there', async () => {
    const slot = new PgReplicationSlot({
      url: `postgres://postgres@127.0.0.1:${freePortNumber()}/postgres`,
      slot: 'daisi_slot',
      publication: 'daisi_pub',
      create: true,
      statusIntervalMs: 1000,
    });
    const cause = await failure(
      slot.read({ started: () => undefined, event: () => undefined, keepalive: () => undefined } as never),
      'postgres',
    );
    assert.equal((cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  });
});
