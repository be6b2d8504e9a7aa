import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEventStoreContract, tick } from '../event-store.contract.ts';
import { migrateToLatest } from '../migrate.ts';
import { openPGliteEventStore } from './pglite.ts';

// Creating a PGlite instance takes seconds; cloning a migrated one takes a fraction of that.
let template: PGlite;
beforeAll(async () => {
  template = await PGlite.create();
  await migrateToLatest(new Kysely<unknown>({ dialect: new PGliteDialect(template) }));
});
afterAll(async () => {
  await template.close();
});

describeEventStoreContract(
  'PGlite',
  async () => {
    const pglite = (await template.clone()) as PGlite;
    const store = await openPGliteEventStore({ pglite });
    return {
      store,
      sql: async (statement, params) => (await pglite.query(statement, params)).rows,
      close: () => store.close(),
    };
  },
  { multiProcess: false },
);

describe('PGlite on disk', () => {
  it('keeps the log across a close and a reopen of the same directory', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'aviary-pglite-'));
    try {
      const first = await openPGliteEventStore({ dataDir: join(dataDir, 'nested', 'log') });
      await first.append('release-a', [tick(1), tick(2)], { expectedVersion: 'no_stream' });
      await first.close();
      const second = await openPGliteEventStore({ dataDir: join(dataDir, 'nested', 'log') });
      try {
        expect((await second.readStream('release-a')).map((e) => e.data)).toEqual([
          { now: '2026-11-22T00:00:01Z' },
          { now: '2026-11-22T00:00:02Z' },
        ]);
        await expect(
          second.append('release-a', [tick(3)], { expectedVersion: 2n }),
        ).resolves.toMatchObject({
          nextVersion: 3n,
        });
      } finally {
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
