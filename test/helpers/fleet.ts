import { after, before } from 'node:test';
import { REDIS_ADDRESS, uid } from './env.js';
import { spawnGateway, type ChildGateway } from './gateway.js';
import { TestNatsServer } from '../../support/nats-server.js';
import { TestPublisher } from './publisher.js';

export interface Fleet {
  nats: TestNatsServer;
  pub: TestPublisher;
  pods: ChildGateway[];
  /** The stream of this fleet (a name of its own). */
  stream: string;
}

export interface FleetOptions {
  /** Redis address (default: the shared test Redis). */
  redis?: () => string;
  /** Extra environment of every pod, and of single pods by index. */
  env?: Record<string, string>;
  podEnv?: Array<Record<string, string>>;
  /** Runs first in `before` (e.g. starting a Redis of the test's own). */
  setUp?: () => Promise<void>;
  tearDown?: () => Promise<void>;
  /** More flags of the fleet's nats-server (`-m <port>`: monitoring), and another binary of it. */
  natsArgs?: string[];
  natsBinary?: string;
}

/**
 * Registers before/after hooks for a suite that runs pods as processes on `hosts` against a
 * nats-server of its own (its own stream) and a JetStream publisher; returns the fleet, filled
 * in once `before` has run.
 */
export function useFleet(hosts: string[], options: FleetOptions = {}): Fleet {
  const fleet = { stream: uid('stream'), pods: [] } as unknown as Fleet;
  before(async () => {
    await options.setUp?.();
    fleet.nats = await TestNatsServer.start(options.natsArgs, options.natsBinary);
    const env = {
      DAISI_WS_REDIS_ADDRESS: options.redis?.() ?? REDIS_ADDRESS,
      DAISI_WS_NATS_URL: fleet.nats.url,
      DAISI_WS_NATS_STREAM_NAME: fleet.stream,
      ...options.env,
    };
    fleet.pods = await Promise.all(hosts.map((host, i) => spawnGateway(host, { ...env, ...options.podEnv?.[i] })));
    fleet.pub = await TestPublisher.connect(fleet.nats.url);
    await fleet.pub.waitForStream(fleet.stream);
  });
  after(async () => {
    for (const pod of fleet.pods) pod.process.kill('SIGCONT'); // a pod a test paused
    // With TEST_CPU_PROF_DIR the pods stop with SIGTERM, so that each writes its CPU profile.
    await Promise.all(fleet.pods.map((p) => (process.env.TEST_CPU_PROF_DIR ? p.stop() : p.kill())));
    await fleet.pub?.close();
    await fleet.nats?.stop();
    await options.tearDown?.();
  });
  return fleet;
}
