import { after, before } from 'node:test';
import { REDIS_ADDRESS } from '../helpers/env.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { TestNatsServer } from '../../support/nats-server.js';
import { TestPublisher } from '../helpers/publisher.js';

/** How a suite gets one gateway and publishes to it, per engine. */
export interface SingleNodeSetup {
  name: string;
  env(): Promise<Record<string, string>>;
  /** Publishes raw bytes to a subject the way the engine's producers do. */
  publisher(
    gw: RunningGateway,
  ): Promise<{ publish(subject: string, data: string): Promise<unknown>; close(): Promise<void> }>;
  teardown?(): Promise<void>;
}

/** The node of a suite, filled in once `before` has run. */
export interface SingleNode {
  gw: RunningGateway;
  pub: Awaited<ReturnType<SingleNodeSetup['publisher']>>;
}

/** Registers before/after hooks that start one gateway with `setup` (and `env`) and stop it. */
export function useSingleNode(setup: SingleNodeSetup, env: Record<string, string> = {}): SingleNode {
  const node = {} as SingleNode;
  before(async () => {
    node.gw = await startGateway({ ...(await setup.env()), ...env });
    node.pub = await setup.publisher(node.gw);
  });
  after(async () => {
    await node.pub?.close();
    await node.gw?.stop();
    await setup.teardown?.();
  });
  return node;
}

/** One node on the embedded engine: events go in through its own stream. */
export const embeddedSetup: SingleNodeSetup = {
  name: 'embedded',
  env: async () => ({}),
  publisher: async (gw) => ({
    publish: (subject, data) => gw.gateway.engine.stream.publish(subject, Buffer.from(data)),
    close: async () => undefined,
  }),
};

/**
 * One node on the cluster engine: the real Redis, a nats-server of its own, a JetStream publisher;
 * `readMode`: nats.read_mode (interest, the default, or stream).
 */
export function clusterSetup(readMode: 'interest' | 'stream' = 'interest'): SingleNodeSetup {
  let nats: TestNatsServer;
  return {
    name: readMode === 'interest' ? 'cluster' : 'cluster, reading the whole stream',
    env: async () => {
      nats = await TestNatsServer.start();
      return {
        DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
        DAISI_WS_NATS_URL: nats.url,
        DAISI_WS_SERVER_POD_ID: '127.0.0.1',
        DAISI_WS_NATS_READ_MODE: readMode,
      };
    },
    publisher: async () => {
      const pub = await TestPublisher.connect(nats.url);
      await pub.waitForStream('wa_stream');
      return { publish: (subject, data) => pub.publish(subject, data), close: () => pub.close() };
    },
    teardown: () => nats.stop(),
  };
}
