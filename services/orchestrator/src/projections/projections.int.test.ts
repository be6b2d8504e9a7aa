import { describeProjections } from './projections.suite.ts';
import { postgresHarness } from './test-support.ts';

describeProjections('PostgreSQL', postgresHarness, { concurrentProjectors: true });
