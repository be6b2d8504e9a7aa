import { openPostgresEventStore } from '@aviary/event-store';
import pg from 'pg';

const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
await admin.connect();
await admin.query('DROP DATABASE IF EXISTS probe WITH (FORCE)');
await admin.query('CREATE DATABASE probe');
const store = await openPostgresEventStore({
  connectionString: 'postgres://postgres@127.0.0.1:5432/probe',
});
await store.close();
const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/probe' });
await c.connect();
await c.query('CREATE TABLE raw_events (LIKE events INCLUDING ALL)');
const data = {
  verdict: {
    requestId: 'r-1',
    releaseId: 'release-x',
    cluster: 'eu-1',
    checkName: 'rate',
    outcome: 'ANALYSIS_OUTCOME_SUCCESSFUL',
    evidence: {
      value: 99.2,
      thresholdRange: { min: 99 },
      canary: { totalCount: '1204', badCount: '9' },
      windowStart: '2026-11-22T00:00:00Z',
      query: 'sum(rate(x[1m]))',
    },
    message: 'ok',
  },
};
for (let round = 0; round < 3; round++) {
  let t = performance.now();
  for (let n = 0; n < 100; n++) {
    const batch = [
      {
        s: `release-${round}`,
        e: String(n * 100),
        ev: Array.from({ length: 100 }, (_, i) => ({
          id: `f-${round}-${n}-${i}`,
          type: 'AnalysisVerdictRecorded',
          v: 1,
          data,
          meta: {},
        })),
        ob: [],
      },
    ];
    await c.query('SELECT es_append_batch($1::jsonb)', [JSON.stringify(batch)]);
  }
  const fn = 10000 / ((performance.now() - t) / 1000);
  t = performance.now();
  for (let n = 0; n < 100; n++) {
    const rows = Array.from({ length: 100 }, (_, i) => ({
      id: `r-${round}-${n}-${i}`,
      type: 'AnalysisVerdictRecorded',
      v: 1,
      data,
      meta: {},
    }));
    await c.query(
      `INSERT INTO raw_events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata)
           SELECT $2, n.ordinality + $3, n.value->>'id', n.value->>'type', (n.value->>'v')::int, n.value->'data', n.value->'meta'
           FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS n`,
      [JSON.stringify(rows), `raw-${round}`, n * 100],
    );
  }
  const raw = 10000 / ((performance.now() - t) / 1000);
  console.log({ fn: Math.round(fn), raw: Math.round(raw) });
}
await c.end();
await admin.query('DROP DATABASE IF EXISTS probe WITH (FORCE)');
await admin.end();
