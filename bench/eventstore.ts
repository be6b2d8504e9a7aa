/**
 * Event log throughput on the real PostgreSQL, each figure against a baseline measured in the
 * same run on the same database:
 * - batched appends (100 events each, exact expected versions, concurrent appenders, group
 *   commit) against the raw ceiling: the same rows inserted in batches of 100 by plain INSERTs
 *   into a copy of the events table (same indexes), with no version checks;
 * - single-event appends from many concurrent callers (group commit) against single-row INSERTs
 *   on as many connections as the store's pool;
 * - replay: the whole log read in global order, decoded, checked against its schemas and folded
 *   into state, against the same query's rows read raw.
 *
 * AVIARY_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) names an admin
 * connection; the bench creates and drops a database of its own.
 */
import { openPostgresEventStore, type RecordedEvent } from '@aviary/event-store';
import pg from 'pg';
import { progress, report } from './report.ts';

const BATCH = 100;
const BATCHED_EVENTS = 200_000;
const SINGLE_CALLERS = 64;
const SINGLE_EVENTS = SINGLE_CALLERS * 300;
const CONCURRENCY = 8;

/** A realistic event (~450 bytes of JSON): an analysis verdict with its evidence. */
const benchEventType = 'AnalysisVerdictRecorded';
function eventData(i: number) {
  return {
    verdict: {
      requestId: `release-checkout-42:eu-west-1:request-success-rate:${i}`,
      releaseId: 'release-checkout-42',
      cluster: 'eu-west-1',
      checkName: 'request-success-rate',
      outcome: 'ANALYSIS_OUTCOME_SUCCESSFUL',
      evidence: {
        value: 99.2,
        thresholdRange: { min: 99 },
        lowerBound: 98.61,
        upperBound: 99.54,
        canary: { totalCount: String(1204 + (i % 100)), badCount: '9' },
        primary: { totalCount: '11872', badCount: '84' },
        windowStart: '2026-11-22T00:00:00Z',
        windowEnd: '2026-11-22T00:01:00Z',
        query: 'sum by (cluster, namespace, workload, track) (rate(istio_requests_total[1m]))',
      },
      message: 'success rate 99.2% >= 99% over 1,204 requests',
    },
  };
}

export async function run(): Promise<void> {
  const adminUrl = process.env.AVIARY_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `aviary_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const connectionString = url.toString();
  const store = await openPostgresEventStore({ connectionString, poolSize: CONCURRENCY });
  const raw = new pg.Pool({ connectionString, max: CONCURRENCY });
  raw.on('error', (error) => progress(`baseline connection failed: ${error.message}`));
  try {
    await raw.query('CREATE TABLE raw_events (LIKE events INCLUDING ALL)');
    const sample = { type: benchEventType, data: eventData(0) };
    const canonical = (await canonicalise(store, sample)) as object;

    // Baseline 1: raw batched inserts.
    progress(
      `raw batched inserts: ${BATCHED_EVENTS} events in batches of ${BATCH} on ${CONCURRENCY} connections`,
    );
    const rawBatched = await timed(BATCHED_EVENTS, () =>
      parallel(CONCURRENCY, BATCHED_EVENTS / BATCH, async (b) => {
        const rows = Array.from({ length: BATCH }, (_, i) => ({
          id: `raw-${b}-${i}`,
          type: benchEventType,
          v: 1,
          data: canonical,
          meta: {},
        }));
        await raw.query(
          `INSERT INTO raw_events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata)
           SELECT $2, n.ordinality, n.value->>'id', n.value->>'type', (n.value->>'v')::int, n.value->'data', n.value->'meta'
           FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS n`,
          [JSON.stringify(rows), `raw-${b}`],
        );
      }),
    );

    // Store: batched appends with exact expected versions, several streams per appender.
    progress(
      `store batched appends: ${BATCHED_EVENTS} events, ${BATCH} per append, ${CONCURRENCY * 4} appenders`,
    );
    const appenders = CONCURRENCY * 4;
    const perAppender = BATCHED_EVENTS / BATCH / appenders;
    const storeBatched = await timed(BATCHED_EVENTS, () =>
      parallel(appenders, appenders, async (a) => {
        for (let n = 0; n < perAppender; n++) {
          const events = Array.from({ length: BATCH }, (_, i) => ({
            type: benchEventType,
            data: eventData(n * BATCH + i),
          }));
          await store.append(`release-bench${a}`, events, { expectedVersion: BigInt(n * BATCH) });
        }
      }),
    );
    report('eventstore.append.batched', storeBatched, 'events/s', rawBatched);

    progress(`raw single-row inserts: ${SINGLE_EVENTS} on ${CONCURRENCY} connections`);
    const rawSingle = await timed(SINGLE_EVENTS, () =>
      parallel(CONCURRENCY, SINGLE_EVENTS, async (i) => {
        await raw.query(
          `INSERT INTO raw_events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata)
           VALUES ($1, 1, $1, $2, 1, $3::jsonb, '{}')`,
          [`single-${i}`, benchEventType, JSON.stringify(canonical)],
        );
      }),
    );
    progress(
      `store single-event appends: ${SINGLE_EVENTS} from ${SINGLE_CALLERS} concurrent callers`,
    );
    const storeSingle = await timed(SINGLE_EVENTS, () =>
      parallel(SINGLE_CALLERS, SINGLE_CALLERS, async (a) => {
        for (let n = 0; n < SINGLE_EVENTS / SINGLE_CALLERS; n++) {
          await store.append(`release-single${a}`, [{ type: benchEventType, data: eventData(n) }], {
            expectedVersion: BigInt(n),
          });
        }
      }),
    );
    report('eventstore.append.single', storeSingle, 'events/s', rawSingle);

    // Everything the store appended, and the one sample event.
    const total = BATCHED_EVENTS + SINGLE_EVENTS + 1;
    progress(`raw read of the log: ${total} events`);
    const rawRead = await timed(total, async () => {
      let tx = '0';
      let pos = '0';
      for (;;) {
        const { rows } = await raw.query(
          `SELECT global_position::text AS pos, transaction_id::text AS tx, stream_id, stream_version::text AS ver,
                  event_id, event_type, schema_version, data, metadata, recorded_at
           FROM events WHERE (transaction_id, global_position) > ($1::text::xid8, $2::bigint)
             AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           ORDER BY transaction_id, global_position LIMIT 5000`,
          [tx, pos],
        );
        if (rows.length === 0) break;
        const lastRow = rows[rows.length - 1];
        tx = lastRow.tx;
        pos = lastRow.pos;
      }
    });
    progress(`store replay: ${total} events read, checked and folded`);
    let folded = 0;
    const replay = await timed(total, async () => {
      const state = new Map<string, { version: bigint; lastType: string }>();
      let page = await store.readAll({ limit: 5000 });
      for (;;) {
        for (const event of page.events) fold(state, event);
        folded += page.events.length;
        if (!page.hasMore) break;
        page = await store.readAll({ after: page.position, limit: 5000 });
      }
    });
    if (folded !== total) throw new Error(`replay folded ${folded} events, expected ${total}`);
    report('eventstore.replay', replay, 'events/s', rawRead);
  } finally {
    await store.close();
    await raw.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

function fold(
  state: Map<string, { version: bigint; lastType: string }>,
  event: RecordedEvent,
): void {
  const previous = state.get(event.streamId);
  if (previous && event.streamVersion !== previous.version + 1n) {
    throw new Error(
      `stream ${event.streamId} jumped from ${previous.version} to ${event.streamVersion}`,
    );
  }
  state.set(event.streamId, { version: event.streamVersion, lastType: event.type });
}

async function canonicalise(
  store: Awaited<ReturnType<typeof openPostgresEventStore>>,
  event: { type: string; data: unknown },
): Promise<unknown> {
  await store.append('bench-sample', [event], { expectedVersion: 'no_stream' });
  const [stored] = await store.readStream('bench-sample');
  return stored?.data;
}

/** Runs `task(0..count-1)` with at most `width` at once. */
async function parallel(
  width: number,
  count: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/** Events per second of `work`. */
async function timed(events: number, work: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await work();
  return events / ((performance.now() - start) / 1000);
}
