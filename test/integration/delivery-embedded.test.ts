import { deliverySuite } from './delivery-suite.js';
import { embeddedSetup } from './single-node-setups.js';

deliverySuite(embeddedSetup);
