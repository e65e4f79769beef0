import { resumeSuite } from './resume-suite.js';
import { clusterSetup } from './single-node-setups.js';

resumeSuite(clusterSetup());
