import { protocolSuite } from './protocol-suite.js';

protocolSuite({ name: 'embedded', env: async () => ({}) });
