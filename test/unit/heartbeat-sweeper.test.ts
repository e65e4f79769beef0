import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { loadConfig } from '../../src/platform/config/load.js';
import { HeartbeatSweeper } from '../../src/transports/ws/heartbeat.js';
import { Liveness } from '../../src/transports/ws/liveness.js';
import type { ClientConnection } from '../../src/transports/ws/client-connection.js';
import type { Metrics } from '../../src/platform/metrics.js';
import type { Logger } from '../../src/domain/ports.js';

/** What the sweeper touches of a connection: each visit pings it (its last ping is long ago). */
function fakeConnection(queued: number) {
  const c = {
    sessionLabel: 'all',
    queued,
    queuedBytes: queued * 1000,
    isOpen: true,
    expired: () => false,
    liveness: new Liveness(1000, Date.now()),
    pings: 0,
    ping(now: number) {
      c.pings++;
      c.liveness.lastPingMs = now - 60_000; // due again at the next visit
    },
    observe() {},
    oldestQueuedAt: () => undefined,
    terminate() {},
  };
  c.liveness.lastPingMs = 0;
  return c;
}

function gauge() {
  const values = new Map<string, number>();
  return {
    values,
    reset: () => values.clear(),
    set: (labels: { session_key: string }, v: number) => void values.set(labels.session_key, v),
  };
}

describe('heartbeat sweeper', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  it('visits a tenth of the connections every 100 ms and each exactly once a second', () => {
    const { config } = loadConfig({
      env: {
        DAISI_WS_APP_PING_INTERVAL_SECONDS: '1',
        DAISI_WS_APP_PONG_WAIT_SECONDS: '0',
        DAISI_WS_APP_MAX_MISSED_PONGS: '0',
      },
      cwd: '/',
    });
    const connections = new Set(Array.from({ length: 25 }, (_, i) => fakeConnection(i % 3)));
    const used = gauge();
    const capacity = gauge();
    const queuedBytes = {
      value: -1,
      set(v: number) {
        this.value = v;
      },
    };
    const metrics = { wsBufferUsed: used, wsBufferCapacity: capacity, queuedBytes } as unknown as Metrics;
    const sweeper = new HeartbeatSweeper(
      () => connections as unknown as ReadonlySet<ClientConnection>,
      () => config,
      metrics,
      {} as Logger,
    );
    sweeper.start();
    const pinged = () => [...connections].filter((c) => c.pings > 0).length;
    for (let step = 1; step <= 10; step++) {
      mock.timers.tick(100);
      assert.equal(pinged(), Math.ceil((25 * step) / 10), `after step ${step}`);
      if (step < 10) assert.equal(used.values.size, 0, 'gauges wait for the end of the round');
    }
    assert.deepEqual(
      [...connections].map((c) => c.pings),
      Array(25).fill(1),
    );
    assert.equal(
      used.values.get('all'),
      [...connections].reduce((s, c) => s + c.queued, 0),
    );
    assert.equal(
      queuedBytes.value,
      [...connections].reduce((s, c) => s + c.queuedBytes, 0),
      'queued bytes of the pod, at the end of the round',
    );
    assert.equal(capacity.values.get('all'), 25 * config.app.websocket_message_buffer_size);

    // A connection that arrives during a round is visited in it; one that leaves is not.
    mock.timers.tick(300);
    const late = fakeConnection(0);
    connections.add(late);
    const gone = [...connections][24]!;
    connections.delete(gone);
    mock.timers.tick(700);
    assert.equal(late.pings, 1);
    assert.equal(gone.pings, 1);
    assert.ok([...connections].every((c) => c.pings === (c === late ? 1 : 2)));
    sweeper.stop();
  });
});
