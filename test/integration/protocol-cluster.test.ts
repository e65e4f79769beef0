import { REDIS_ADDRESS, uid } from '../helpers/env.js';
import { TestNatsServer } from '../../support/nats-server.js';
import { protocolSuite } from './protocol-suite.js';

let nats: TestNatsServer;

protocolSuite({
  name: 'cluster',
  redis: true,
  env: async () => {
    nats = await TestNatsServer.start();
    return {
      DAISI_WS_REDIS_ADDRESS: REDIS_ADDRESS,
      DAISI_WS_NATS_URL: nats.url,
      DAISI_WS_NATS_CONSUMER_NAME: uid('cons'),
      DAISI_WS_SERVER_POD_ID: '127.0.0.1',
    };
  },
  teardown: () => nats.stop(),
});
