import { PGlite } from '@electric-sql/pglite';
import { Kysely, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharePGlite } from './shared-pglite.ts';

interface Db {
  t: { v: string };
}

let template: PGlite;
beforeAll(async () => {
  template = await PGlite.create();
  await template.query('CREATE TABLE t (v text)');
});
afterAll(async () => {
  await template.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Two kysely instances on one instance: `a` rolls a transaction back while `b` inserts. */
async function rollbackWhileOtherInserts(a: Kysely<Db>, b: Kysely<Db>): Promise<string[]> {
  let other: Promise<unknown> | undefined;
  await a
    .transaction()
    .execute(async (trx) => {
      await trx.insertInto('t').values({ v: 'a' }).execute();
      other = b.insertInto('t').values({ v: 'b' }).execute();
      await sleep(30);
      throw new Error('roll back');
    })
    .catch(() => {});
  await other;
  return (await b.selectFrom('t').select('v').orderBy('v').execute()).map((r) => r.v);
}

describe('sharePGlite', () => {
  it("keeps one view's statements out of another view's open transaction", async () => {
    const pglite = (await template.clone()) as PGlite;
    const shared = sharePGlite(pglite);
    const a = new Kysely<Db>({ dialect: new PGliteDialect(shared.view()) });
    const b = new Kysely<Db>({ dialect: new PGliteDialect(shared.view()) });
    expect(await rollbackWhileOtherInserts(a, b)).toEqual(['b']);
    await pglite.close();
  });

  it('is needed: without it, the other statement runs inside the transaction and is undone', async () => {
    const pglite = (await template.clone()) as PGlite;
    const a = new Kysely<Db>({ dialect: new PGliteDialect(pglite) });
    const b = new Kysely<Db>({ dialect: new PGliteDialect(pglite) });
    expect(await rollbackWhileOtherInserts(a, b)).toEqual([]);
    await pglite.close();
  });

  it('serves PGlite transactions, listen and notifications through a view', async () => {
    const pglite = (await template.clone()) as PGlite;
    const view = sharePGlite(pglite).view();
    const heard: string[] = [];
    const unlisten = await view.listen('ch', (payload) => heard.push(payload));
    await view.transaction(async (tx) => {
      await tx.query("INSERT INTO t VALUES ('x')");
      await tx.query("SELECT pg_notify('ch', 'hello')");
    });
    await sleep(10);
    expect(heard).toEqual(['hello']);
    await unlisten();
    expect((await view.query<{ v: string }>('SELECT v FROM t')).rows).toEqual([{ v: 'x' }]);
    await pglite.close();
  });

  it('closes the instance only through a view that owns it', async () => {
    const pglite = (await template.clone()) as PGlite;
    const shared = sharePGlite(pglite);
    const projections = new Kysely<Db>({ dialect: new PGliteDialect(shared.view()) });
    await projections.destroy();
    expect(pglite.closed).toBe(false);
    await sql`SELECT 1`.execute(new Kysely<Db>({ dialect: new PGliteDialect(shared.view()) }));
    await shared.view({ closes: true }).close();
    expect(pglite.closed).toBe(true);
  });
});
