import { clusterDeliverySuite } from './delivery-cluster-suite.js';
import { deliverySuite } from './delivery-suite.js';
import { clusterSetup } from './single-node-setups.js';

// nats.read_mode: stream (every pod reads all of wa.>, as where the stream cannot republish) keeps every
// delivery guarantee: the same suites as with interest reading.
deliverySuite(clusterSetup('stream'));
clusterDeliverySuite('stream');
