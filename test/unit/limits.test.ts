import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/platform/config/load.js';
import type { Config } from '../../src/platform/config/schema.js';
import { AddressList, addressOfPeer, isLoopback } from '../../src/domain/addresses.js';
import { BoundedMap } from '../../src/domain/bounded-map.js';
import { AuthFailure, ErrorCodes, GatewayError } from '../../src/domain/errors.js';
import { AbuseLimits } from '../../src/services/abuse-limits.js';

function limitsWith(env: Record<string, string>) {
  let now = 1_000_000;
  const cfg: Config = loadConfig({ env }).config;
  const limits = new AbuseLimits(
    () => cfg,
    () => now,
  );
  return { limits, advance: (ms: number) => (now += ms) };
}

const code = (fn: () => void): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as GatewayError).code;
  }
};

describe('abuse limits (SECURITY.md, *Limits*)', () => {
  it('handshakes: a burst of twice the rate, then the rate per second, per address', () => {
    const { limits, advance } = limitsWith({ DAISI_WS_SERVER_HANDSHAKE_RATE_PER_IP: '5' });
    for (let i = 0; i < 10; i++)
      assert.equal(
        code(() => limits.takeHandshake('10.0.0.1')),
        undefined,
      );
    assert.equal(
      code(() => limits.takeHandshake('10.0.0.1')),
      ErrorCodes.RateLimitExceeded,
    );
    assert.equal(
      code(() => limits.takeHandshake('10.0.0.2')),
      undefined,
    );
    advance(200); // one token back at 5/s
    assert.equal(
      code(() => limits.takeHandshake('10.0.0.1')),
      undefined,
    );
    assert.equal(
      code(() => limits.takeHandshake('10.0.0.1')),
      ErrorCodes.RateLimitExceeded,
    );
    limits.close();
  });

  it('failed authentications: past the limit further failures get 429 until the minute is over; a valid credential always passes', async () => {
    const { limits, advance } = limitsWith({ DAISI_WS_AUTH_MAX_FAILURES_PER_IP_PER_MINUTE: '2' });
    const bad = () => {
      throw new AuthFailure(new GatewayError(ErrorCodes.InvalidAPIKey, 'Invalid API key'), 'invalid_api_key');
    };
    const serverFault = () => {
      throw new AuthFailure(
        new GatewayError(ErrorCodes.Internal, 'Server configuration error'),
        'config_error_aes_key',
      );
    };
    const refusedWith = (code: string) => (e: GatewayError) => e.code === code;
    await assert.rejects(limits.authenticate('a', serverFault), refusedWith(ErrorCodes.Internal)); // not counted
    await assert.rejects(limits.authenticate('a', bad), refusedWith(ErrorCodes.InvalidAPIKey));
    await assert.rejects(limits.authenticate('a', bad), refusedWith(ErrorCodes.InvalidAPIKey));
    await assert.rejects(limits.authenticate('a', bad), refusedWith(ErrorCodes.RateLimitExceeded));
    assert.equal(await limits.authenticate('a', () => 'ok'), 'ok', 'a valid credential from the same address');
    assert.equal(await limits.authenticate('b', () => 'ok'), 'ok');
    await assert.rejects(limits.authenticate('b', bad), refusedWith(ErrorCodes.InvalidAPIKey), 'per address');
    advance(59_000);
    await assert.rejects(limits.authenticate('a', bad), refusedWith(ErrorCodes.RateLimitExceeded));
    advance(1_000);
    await assert.rejects(limits.authenticate('a', bad), refusedWith(ErrorCodes.InvalidAPIKey), 'a new minute');
    limits.close();
  });

  it('failed authentications are limited by default (60 a minute)', async () => {
    const { limits } = limitsWith({});
    const bad = () => {
      throw new AuthFailure(new GatewayError(ErrorCodes.InvalidToken, 'Token invalid'), 'decryption_failed');
    };
    const codes: string[] = [];
    for (let i = 0; i < 61; i++) await limits.authenticate('a', bad).catch((e: GatewayError) => codes.push(e.code));
    assert.equal(codes.filter((c) => c === ErrorCodes.InvalidToken).length, 60);
    assert.equal(codes.at(-1), ErrorCodes.RateLimitExceeded);
    limits.close();
  });

  it('per-address tables forget their oldest entry when full', () => {
    const map = new BoundedMap<number>(3);
    for (const k of ['a', 'b', 'c', 'd']) map.set(k, 1);
    assert.deepEqual([...map.keys()], ['b', 'c', 'd']);
  });

  it('address lists match addresses and CIDRs, IPv4-mapped peers included', () => {
    const list = new AddressList(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
    assert.ok(list.has('10.2.3.4') && list.has('::ffff:10.2.3.4') && list.has('192.168.1.7') && list.has('fd00::1'));
    assert.ok(!list.has('192.168.1.8') && !list.has('127.0.0.1') && !list.has('not-an-ip'));
    assert.deepEqual(['127.0.0.1:5000', '::ffff:10.0.0.1:5000', '[::1]:5000', '::1:5000'].map(addressOfPeer), [
      '127.0.0.1',
      '10.0.0.1',
      '::1',
      '::1',
    ]);
    assert.ok(
      isLoopback('127.0.0.9') && isLoopback('::1') && isLoopback('::ffff:127.0.0.1') && !isLoopback('10.0.0.1'),
    );
  });
});

describe('who may push (grpc.allowed_peers)', () => {
  it('empty list: loopback, and the pod ids found in route sets (read again at most every 10 s)', async () => {
    const { MemoryRouteRegistry } = await import('../../src/adapters/memory/route-registry.js');
    const { PushPeers } = await import('../../src/services/push-peers.js');
    let now = 0;
    const routes = new MemoryRouteRegistry();
    const cfg = loadConfig({ env: {} }).config;
    const peers = new PushPeers(
      () => cfg,
      routes,
      () => now,
    );
    assert.equal(await peers.allows('127.0.0.1'), true);
    assert.equal(await peers.allows('10.0.0.5'), false);
    await routes.add('route:c:a:chats', '10.0.0.5', 60);
    assert.equal(await peers.allows('10.0.0.5'), false, 'not read again within 10 s');
    now += 10_000;
    assert.equal(await peers.allows('10.0.0.5'), true);
    const listed = loadConfig({ env: { DAISI_WS_GRPC_ALLOWED_PEERS: '10.1.0.0/16' } }).config;
    const strict = new PushPeers(
      () => listed,
      routes,
      () => now,
    );
    assert.deepEqual(
      [await strict.allows('10.1.2.3'), await strict.allows('127.0.0.1'), await strict.allows('10.0.0.5')],
      [true, false, false],
    );
  });
});
