import assert from 'node:assert/strict';
import { createServer, connect as dial, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connectNats } from '../../src/adapters/nats/connection.js';
import { TestNatsServer } from '../../support/nats-server.js';
import { timingBound } from '../helpers/timing.js';

// A pod's first connection to NATS when the server accepts it but never answers (seen once in CI:
// a freshly started nats-server left a pod's connection silent and the pod gave up after its 5 s
// connect timeout). In front of a real nats-server: a proxy that swallows the first connection and
// passes the next ones through.

describe('first connection to NATS', () => {
  let nats: TestNatsServer;
  let proxy: Server;
  let port = 0;
  const sockets: Socket[] = [];
  /** Connections the proxy has taken. */
  let seen = 0;

  before(async () => {
    nats = await TestNatsServer.start();
    proxy = createServer((client) => {
      sockets.push(client);
      if (seen++ === 0) return; // accepted, never answered
      const upstream = dial(nats.port, '127.0.0.1');
      sockets.push(upstream);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    port = (proxy.address() as { port: number }).port;
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    proxy.close();
    await nats.stop();
  });

  it('drops an attempt the server never answers and dials again within connect_timeout_seconds', async () => {
    const started = Date.now();
    const nc = await connectNats({
      url: `nats://127.0.0.1:${port}`,
      name: 'connect-test',
      connectTimeoutSeconds: 5,
      reconnectWaitSeconds: 1,
      maxReconnects: 0,
      pingIntervalSeconds: 20,
      maxPingsOut: 2,
      retryOnFailedConnect: true,
    });
    const took = Date.now() - started;
    await nc.flush();
    await nc.close();
    assert.equal(seen, 2, 'the silent attempt was dropped and the pod dialled again, once');
    timingBound(took < 5000, `connected after ${took} ms`);
  });
});
