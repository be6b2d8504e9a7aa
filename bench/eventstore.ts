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
import {
  type EventStore,
  type GlobalPosition,
  openPostgresEventStore,
  type RecordedEvent,
} from '@aviary/event-store';
import pg from 'pg';
import { progress, report } from './report.ts';

const BATCH = 100;
const BATCHED_EVENTS = 200_000;
const SINGLE_CALLERS = 64;
const SINGLE_EVENTS = SINGLE_CALLERS * 300;
const CONCURRENCY = 8;
const REBUILDS = 20;
/** Concurrent batched appenders; BATCHED_EVENTS / BATCH must be a multiple of it. */
const APPENDERS = 40;

/**
 * A release's mix of events, from ~50 to ~600 bytes of JSON: ticks, phase changes, weight
 * commands to agents and analysis verdicts with their evidence, in turn.
 */
const EVENT_TYPES = [
  'TickRecorded',
  'CanaryPhaseChanged',
  'CanaryWeightRequested',
  'AnalysisVerdictRecorded',
] as const;
function benchEvent(i: number): { type: string; data: unknown } {
  const type = EVENT_TYPES[i % EVENT_TYPES.length] as (typeof EVENT_TYPES)[number];
  const at = new Date(Date.UTC(2026, 10, 22) + i * 1000).toISOString();
  switch (type) {
    case 'TickRecorded':
      return { type, data: { now: at } };
    case 'CanaryPhaseChanged':
      return {
        type,
        data: {
          cluster: 'eu-west-1',
          previousPhase: 'CANARY_PHASE_WAITING',
          phase: 'CANARY_PHASE_PROGRESSING',
          reason: 'new revision 7d9f8c6b5 detected',
        },
      };
    case 'CanaryWeightRequested':
      return {
        type,
        data: {
          command: {
            commandId: `release-checkout-42:eu-west-1:weight:${i}`,
            cluster: 'eu-west-1',
            releaseId: 'release-checkout-42',
            workload: { namespace: 'shop', name: 'checkout', kind: 'WORKLOAD_KIND_DEPLOYMENT' },
            issuedAt: at,
            setRoutes: {
              router: 'ROUTER_KIND_ISTIO',
              serviceName: 'checkout',
              routes: { primaryWeightPercent: 80, canaryWeightPercent: 20 },
            },
          },
        },
      };
    case 'AnalysisVerdictRecorded':
      return {
        type,
        data: {
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
              query:
                'sum by (cluster, namespace, workload, track) (rate(istio_requests_total[1m]))',
            },
            message: 'success rate 99.2% >= 99% over 1,204 requests',
          },
        },
      };
    default: {
      const never: never = type;
      throw new Error(`no sample for ${never}`);
    }
  }
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
    const canonical: { type: string; data: unknown }[] = [];
    for (let i = 0; i < EVENT_TYPES.length; i++) {
      await store.append('bench-sample', [benchEvent(i)], { expectedVersion: BigInt(i) });
    }
    for (const event of await store.readStream('bench-sample')) {
      canonical.push({ type: event.type, data: event.data });
    }
    const rawRow = (i: number) =>
      canonical[i % canonical.length] as { type: string; data: unknown };

    // Baseline 1: raw batched inserts.
    progress(
      `raw batched inserts: ${BATCHED_EVENTS} events in batches of ${BATCH} on ${CONCURRENCY} connections`,
    );
    const rawBatched = await timed(BATCHED_EVENTS, () =>
      parallel(CONCURRENCY, BATCHED_EVENTS / BATCH, async (b) => {
        const rows = Array.from({ length: BATCH }, (_, i) => ({
          id: `raw-${b}-${i}`,
          type: rawRow(i).type,
          v: 1,
          data: rawRow(i).data,
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
      `store batched appends: ${BATCHED_EVENTS} events, ${BATCH} per append, ${APPENDERS} appenders`,
    );
    const appenders = APPENDERS;
    const perAppender = BATCHED_EVENTS / BATCH / appenders;
    const storeBatched = await timed(BATCHED_EVENTS, () =>
      parallel(appenders, appenders, async (a) => {
        for (let n = 0; n < perAppender; n++) {
          const events = Array.from({ length: BATCH }, (_, i) => benchEvent(n * BATCH + i));
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
          [`single-${i}`, rawRow(i).type, JSON.stringify(rawRow(i).data)],
        );
      }),
    );
    progress(
      `store single-event appends: ${SINGLE_EVENTS} from ${SINGLE_CALLERS} concurrent callers`,
    );
    const storeSingle = await timed(SINGLE_EVENTS, () =>
      parallel(SINGLE_CALLERS, SINGLE_CALLERS, async (a) => {
        for (let n = 0; n < SINGLE_EVENTS / SINGLE_CALLERS; n++) {
          await store.append(`release-single${a}`, [benchEvent(n)], {
            expectedVersion: BigInt(n),
          });
        }
      }),
    );
    report('eventstore.append.single', storeSingle, 'events/s', rawSingle);

    // Everything the store appended, and the one sample event.
    const total = BATCHED_EVENTS + SINGLE_EVENTS + EVENT_TYPES.length;
    progress(`raw read of the log: ${total} events`);
    const rawRead = await timed(total, async () => {
      let tx = '0';
      let pos = '0';
      for (;;) {
        const { rows } = await raw.query(
          `SELECT global_position::text AS pos, transaction_id::text AS tx, stream_id, stream_version::text AS ver,
                  event_id, event_type, schema_version, data, metadata,
                  floor(extract(epoch FROM recorded_at) * 1000)::float8 AS recorded_ms
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
    progress(
      `store replay: ${total} events read, checked and folded by a subscription from the start`,
    );
    let folded = 0;
    const end = await lastPosition(store);
    const replay = await timed(total, async () => {
      const state = new Map<string, { version: bigint; lastType: string }>();
      const subscription = store.subscribe({
        batchSize: 5000,
        handler: async (events) => {
          for (const event of events) fold(state, event);
          folded += events.length;
        },
      });
      await subscription.waitFor(end);
      await subscription.stop();
    });
    if (folded !== total) throw new Error(`replay folded ${folded} events, expected ${total}`);
    report('eventstore.replay', replay, 'events/s', rawRead);

    // What the orchestrator does before deciding: rebuild one release from its stream. Each
    // batched appender wrote one stream of BATCHED_EVENTS / APPENDERS events.
    const streamLength = BATCHED_EVENTS / APPENDERS;
    progress(`rebuild one ${streamLength}-event stream, ${REBUILDS} times`);
    const rawStream = await timed(REBUILDS * streamLength, async () => {
      for (let i = 0; i < REBUILDS; i++) {
        await raw.query(
          `SELECT global_position::text AS pos, transaction_id::text AS tx, stream_id, stream_version::text AS ver,
                  event_id, event_type, schema_version, data, metadata,
                  floor(extract(epoch FROM recorded_at) * 1000)::float8 AS recorded_ms
           FROM events WHERE stream_id = $1 ORDER BY stream_version`,
          [`release-bench${i % APPENDERS}`],
        );
      }
    });
    const rebuild = await timed(REBUILDS * streamLength, async () => {
      for (let i = 0; i < REBUILDS; i++) {
        const state = new Map<string, { version: bigint; lastType: string }>();
        const events = await store.readStream(`release-bench${i % APPENDERS}`);
        if (events.length !== streamLength) throw new Error(`stream has ${events.length} events`);
        for (const event of events) fold(state, event);
      }
    });
    // Milliseconds to rebuild one stream (lower is better; the ratio is raw over store).
    const perStream = (eventsPerSecond: number) => (streamLength / eventsPerSecond) * 1000;
    report(
      'eventstore.rebuild.stream',
      perStream(rebuild),
      `ms per ${streamLength}-event stream`,
      perStream(rawStream),
    );
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

async function lastPosition(store: EventStore): Promise<GlobalPosition> {
  let page = await store.readAll({ limit: 100_000 });
  while (page.hasMore) page = await store.readAll({ after: page.position, limit: 100_000 });
  return page.position;
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
