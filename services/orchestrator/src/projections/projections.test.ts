import { afterAll } from 'vitest';
import { describeProjections } from './projections.suite.ts';
import { pgliteHarness } from './test-support.ts';

const pglite = pgliteHarness();
afterAll(() => pglite.dispose());

describeProjections('PGlite', pglite.open, { concurrentProjectors: true });
