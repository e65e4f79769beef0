import { resumeSuite } from './resume-suite.js';
import { embeddedSetup } from './single-node-setups.js';

resumeSuite(embeddedSetup);
