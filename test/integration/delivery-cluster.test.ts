import { clusterDeliverySuite } from './delivery-cluster-suite.js';

clusterDeliverySuite('interest');
