import { resumeSuite } from './resume-suite.js';

resumeSuite({
  name: 'embedded',
  env: async () => ({}),
  publisher: async (gw) => ({
    publish: (subject, data) => gw.gateway.engine.stream.publish(subject, Buffer.from(data)),
    close: async () => undefined,
  }),
});
