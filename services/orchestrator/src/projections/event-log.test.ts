import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openEventLog } from '../event-log.ts';
import { Projector } from './projector.ts';
import { createReadModel } from './read-model.ts';
import { dumpProjections, loadScenario, storeScenario } from './test-support.ts';

const quiet = { warn() {}, error() {}, debug() {} };

describe('openEventLog, embedded (PGlite on disk)', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'aviary-projections-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('opens the log with its projection tables on one instance, and keeps both across a reopen', async () => {
    const config = { dataDir: join(dataDir, 'log'), pgPoolSize: 1 };
    const first = await openEventLog(config, quiet);
    expect(first.where).toBe(`pglite ${join(dataDir, 'log')}`);
    const projector = new Projector({
      store: first.store,
      db: first.projections,
      pollIntervalMs: 20,
    });
    projector.start();
    const stored = await storeScenario(first.store, loadScenario('threshold-rollback.yaml'));
    await projector.waitFor(stored.position);
    const before = await dumpProjections(first.projections);
    expect(before.proj_releases).toHaveLength(1);
    await projector.stop();
    await first.close();

    const second = await openEventLog(config, quiet);
    try {
      expect(await dumpProjections(second.projections)).toEqual(before);
      const release = await createReadModel(second.projections).release(stored.releaseId);
      expect(release).toMatchObject({ status: 'finished', outcome: 'RELEASE_OUTCOME_FAILED' });
      // The checkpoint was kept too: a restarted projector has nothing to do.
      const again = new Projector({ store: second.store, db: second.projections });
      again.start();
      await again.waitFor(stored.position);
      await again.stop();
      expect(await dumpProjections(second.projections)).toEqual(before);
    } finally {
      await second.close();
    }
  });
});
