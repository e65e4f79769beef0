import { deliverySuite } from './delivery-suite.js';
import { clusterSetup } from './single-node-setups.js';

deliverySuite(clusterSetup());
