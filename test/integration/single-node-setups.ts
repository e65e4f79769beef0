import { REDIS_ADDRESS } from '../helpers/env.js';
import { TestNatsServer } from '../helpers/nats-server.js';
import { TestPublisher } from '../helpers/publisher.js';
import type { DeliverySetup } from './delivery-suite.js';

/** One node on the embedded engine: events go in through its own stream. */
export const embeddedSetup: DeliverySetup = {
  name: 'embedded',
  env: async () => ({}),
  publisher: async (gw) => ({
    publish: (subject, data) => gw.gateway.engine.stream.publish(subject, Buffer.from(data)),
    close: async () => undefined,
  }),
};

/** One node on the cluster engine: the real Redis, a nats-server of its own, a JetStream publisher. */
export function clusterSetup(): DeliverySetup {
  let nats: TestNatsServer;
  return {
    name: 'cluster',
    env: async () => {
      nats = await TestNatsServer.start();
      return { DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS, DAISI_WS_NATS_URL: nats.url, DAISI_WS_SERVER_POD_ID: '127.0.0.1' };
    },
    publisher: async () => {
      const pub = await TestPublisher.connect(nats.url);
      await pub.waitForStream('wa_stream');
      return { publish: (subject, data) => pub.publish(subject, data), close: () => pub.close() };
    },
    teardown: () => nats.stop(),
  };
}
