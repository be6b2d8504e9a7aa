// Test support: a PostgreSQL database of its own for one test.
import pg from 'pg';
import { testEnv, uniqueName } from '../../../../test/env.ts';
import type { ContractHarness } from '../event-store.contract.ts';
import { openPostgresEventStore } from './postgres.ts';

/** A fresh database per test, dropped afterwards. */
export async function openPostgresHarness(): Promise<
  ContractHarness & { connectionString: string }
> {
  const name = uniqueName('aviary_es');
  const admin = new pg.Client({ connectionString: testEnv.postgresUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(testEnv.postgresUrl);
  url.pathname = `/${name}`;
  const connectionString = url.toString();
  const store = await openPostgresEventStore({ connectionString, poolSize: 4 });
  const raw = new pg.Client({ connectionString });
  await raw.connect();
  return {
    store,
    connectionString,
    sql: async (statement, params) => (await raw.query(statement, params)).rows,
    openAnother: () => openPostgresEventStore({ connectionString, poolSize: 2 }),
    close: async () => {
      await store.close();
      await raw.end();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}
