import { deliverySuite } from './delivery-suite.js';

deliverySuite({
  name: 'embedded',
  env: async () => ({}),
  publisher: async (gw) => ({
    publish: (subject, data) => gw.gateway.engine.stream.publish(subject, Buffer.from(data)),
    close: async () => undefined,
  }),
});
