import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { afterAll, beforeAll } from 'vitest';
import { describeEventStoreContract } from '../event-store.contract.ts';
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
