/**
 * The orchestrator at fleet scale, on the real PostgreSQL: one `Engine` over the event log, its
 * outbox drained by an `OutboxRelay`, answered by a `SimulatedFleet` of 100 clusters, with
 * 1,000 cluster canaries in analysis at once (10 applications, each released to all 100
 * clusters in one wave with `maxParallel: all`). After a bootstrap release per application (v1
 * initializes every cluster), v2 is deployed everywhere and the steady state is measured while
 * the 1,000 canaries progress:
 *
 * - `fleet.events_appended`: events committed to the log per second over the steady window,
 *   against raw single-row INSERTs into a copy of the events table on the same database, on as
 *   many connections as the store's pool, measured in the same run (after the engine stopped),
 *   with rows sampled from what the engine wrote. The value is the load 1,000 canaries generate
 *   (about 6 events per canary per check), not the log's ceiling: the ratio is the headroom;
 * - `fleet.tick_delay_p99`: from a tick being due to its decision committed (the engine's
 *   `onTick`), over the steady window, against the target of 100 ms;
 * - `fleet.orchestrator_cpu`: CPU time of the orchestrator's process per wall second, in
 *   millicores (`report` rounds values to integers), against the target of one core. The
 *   simulated fleet runs in a child process (this file, forked), talking over IPC the way agents
 *   and the analyzer talk over NATS, so `process.cpuUsage()` of this process is the orchestrator
 *   alone: the engine, the decider, the event store's client, the outbox relay, decoding of
 *   incoming messages as the NATS ingest does, and GC on every thread. PostgreSQL's own CPU is
 *   not in it (printed separately as progress). The bench's own timing of appends and ingest
 *   (diagnostics printed as progress) is in it too, and negligible;
 * - `fleet.rollback_ms`: after the steady window, one cluster's canary of one application starts
 *   failing its checks; from that moment until the simulated agent applied routes with canary
 *   weight 0 there. Against the target of one analysis interval + 2 s. With `failurePolicy: halt`
 *   that application's other 99 canaries are rolled back too (the fleet halts).
 *
 * AVIARY_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) names an admin
 * connection; the bench creates and drops a database of its own.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { AviaryError, ErrorCode } from '@aviary/core';
import { type EventStore, OutboxRelay, openPostgresEventStore } from '@aviary/event-store';
import { type MessagingNamespace, messagingNamespace } from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import {
  type AnalysisOutcomeJson,
  type AnalysisVerdictJson,
  AnalysisVerdictSchema,
  type ObservationJson,
  ObservationSchema,
} from '@aviary/proto';
import { type DescMessage, fromJson, type JsonValue, toJson } from '@bufbuild/protobuf';
import pg from 'pg';
import { Engine } from '../services/orchestrator/src/engine/engine.ts';
import { SimulatedFleet } from '../services/orchestrator/src/simulation/simulated-fleet.ts';
import { progress, report } from './report.ts';

const APPS = 10;
const CLUSTERS = 100;
/** Aviary's `analysis.intervalMs`: one tick per release, one check per canary, this often. */
const INTERVAL_MS = 3000;
/** 25 steps of 2% up to 50%: the canaries stay in Progressing for ~80 s. */
const STEP_WEIGHT = 2;
const MAX_WEIGHT = 50;
/** After every canary is Progressing, before the window opens. */
const WARMUP_MS = 2 * INTERVAL_MS;
const WINDOW_MS = 40_000;
const POOL = 8;
const BASELINE_INSERTS = 20_000;
const TICK_TARGET_MS = 100;
/** Concurrent messages per consumer, as the NATS ingest's default `maxInFlight`. */
const INGEST_IN_FLIGHT = 256;
const CHILD_FLAG = '--aviary-simulated-fleet';
const REVISIONS = { bootstrap: 'v1', release: 'v2' } as const;
const FAULTY = { app: 0, cluster: 42 } as const;

const NS = 'shop';
const appName = (i: number) => `app-${String(i).padStart(2, '0')}`;
const clusterName = (i: number) => `c-${String(i).padStart(3, '0')}`;
const workloadOf = (i: number) =>
  ({ namespace: NS, name: appName(i), kind: 'WORKLOAD_KIND_DEPLOYMENT' }) as const;
const releaseOf = (i: number, seq: number) => `${NS}.${appName(i)}.${seq}`;
const CLUSTER_LIST = Array.from({ length: CLUSTERS }, (_, i) => ({
  name: clusterName(i),
  labels: { fleet: 'bench', region: `r-${i % 5}` },
}));

const spec = (i: number) => `
apiVersion: aviary.dev/v1alpha1
kind: Rollout
metadata: { name: ${appName(i)}, namespace: ${NS} }
spec:
  targetRef: { kind: Deployment, name: ${appName(i)} }
  provider: istio
  service: { port: 9898 }
  fleet:
    failurePolicy: halt
    waves:
      - { name: everywhere, selector: { matchLabels: { fleet: bench } }, maxParallel: all, bake: 0s }
  analysis:
    intervalMs: ${INTERVAL_MS}
    threshold: 1
    stepWeight: ${STEP_WEIGHT}
    maxWeight: ${MAX_WEIGHT}
    metrics:
      - name: request-success-rate
        thresholdRange: { min: 99 }
`;

// ---------------------------------------------------------------------------------------------
// IPC between the orchestrator (this process) and the simulated fleet (a child process)

type Workload = ReturnType<typeof workloadOf>;
type ToFleet =
  | { readonly t: 'messages'; readonly list: { subject: string; payload: Uint8Array }[] }
  | { readonly t: 'heartbeats'; readonly id: number }
  | { readonly t: 'deploy'; readonly id: number; readonly workload: Workload; revision: string }
  | {
      readonly t: 'fault';
      readonly id: number;
      readonly cluster: string;
      readonly workload: Workload;
      readonly revision: string;
    }
  | { readonly t: 'cpu'; readonly id: number };
type FromFleet =
  | { readonly t: 'in'; readonly observations: string[]; readonly verdicts: string[] }
  | { readonly t: 'done'; readonly id: number; readonly cpu?: NodeJS.CpuUsage }
  | {
      readonly t: 'routes-to-primary';
      readonly cluster: string;
      readonly atMs: number;
      readonly commandId: string;
    };

// ---------------------------------------------------------------------------------------------
// The orchestrator

export async function run(): Promise<void> {
  const adminUrl = process.env.AVIARY_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `aviary_bench_fleet_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const connectionString = url.toString();

  const logged = new Map<string, number>();
  const logger = createLogger({
    service: 'bench-fleet',
    level: 'warn',
    destination: {
      write(line: string) {
        let msg = line;
        try {
          msg = (JSON.parse(line) as { msg?: string }).msg ?? line;
        } catch {}
        const seen = logged.get(msg) ?? 0;
        logged.set(msg, seen + 1);
        if (seen < 3) progress(`  engine log: ${line.trim().slice(0, 600)}`);
      },
    },
  });

  const appends = new AppendTimes();
  const store = appends.wrap(await openPostgresEventStore({ connectionString, poolSize: POOL }));
  const raw = new pg.Pool({ connectionString, max: POOL });
  raw.on('error', (error) => progress(`baseline connection failed: ${error.message}`));
  const child = startFleetProcess();
  const namespace = messagingNamespace();

  let window: { start: number; end: number } | undefined;
  const tickDelays: number[] = [];
  const allTicks: number[] = [];
  const engine = new Engine({
    store,
    namespace,
    logger,
    publishCommand: async (subject, payload) => child.publish(subject, payload),
    onTick: (delayMs) => {
      allTicks.push(delayMs);
      const now = Date.now();
      if (window !== undefined && now >= window.start && now <= window.end) {
        tickDelays.push(delayMs);
      }
    },
  });
  const observations = new Ingest('observation', (text) =>
    engine.ingestObservation(decode<ObservationJson>(ObservationSchema, text, 'observation')),
  );
  const verdicts = new Ingest('analysis verdict', (text) =>
    engine.recordVerdict(decode<AnalysisVerdictJson>(AnalysisVerdictSchema, text, 'verdict')),
  );
  child.onInput = (m) => {
    observations.push(m.observations);
    verdicts.push(m.verdicts);
  };
  const relay = new OutboxRelay({
    outbox: store.outbox,
    publisher: {
      // Handed to the fleet asynchronously, as over NATS (acknowledged at once, as a PubAck).
      publish: async (message) => child.publish(message.subject, message.payload),
    },
    logger,
    pollIntervalMs: 500,
  });
  let stopped = false;
  const stopEngine = async () => {
    if (stopped) return;
    stopped = true;
    await relay.stop();
    await engine.stop();
  };

  try {
    await engine.recover();
    relay.start();
    engine.start();
    const t0 = Date.now();
    for (let i = 0; i < APPS; i++)
      await engine.applySpec(spec(i), { name: 'bench', role: 'admin' });
    await child.call({ t: 'heartbeats' });
    await idle(observations, verdicts);
    progress(
      `fleet: ${CLUSTERS} simulated clusters (child process ${child.pid}), ${APPS} applications, ` +
        `${APPS * CLUSTERS} cluster canaries; analysis every ${INTERVAL_MS} ms, stepWeight ${STEP_WEIGHT}, maxWeight ${MAX_WEIGHT}; pool ${POOL}`,
    );

    // Bootstrap: the first revision initializes every cluster.
    for (let i = 0; i < APPS; i++) {
      await child.call({ t: 'deploy', workload: workloadOf(i), revision: REVISIONS.bootstrap });
    }
    await until('bootstrap releases finished', 120_000, () =>
      range(APPS).every((i) => engine.release(releaseOf(i, 1))?.finished === true),
    );
    const bootstrapOutcomes = range(APPS).map((i) => outcomeOf(engine, releaseOf(i, 1)));
    progress(
      `bootstrap (${REVISIONS.bootstrap}) finished in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${summarize(bootstrapOutcomes)}; ` +
        `tick delay so far p50 ${pct(allTicks, 0.5)} ms, p99 ${pct(allTicks, 0.99)} ms (${allTicks.length} ticks)`,
    );

    // The release: v2 to all 100 clusters of every application at once.
    const t1 = Date.now();
    for (let i = 0; i < APPS; i++) {
      await child.call({ t: 'deploy', workload: workloadOf(i), revision: REVISIONS.release });
    }
    await until('all canaries progressing', 120_000, () => {
      const phases = canaryPhases(engine);
      return phases.get('CANARY_PHASE_PROGRESSING') === APPS * CLUSTERS;
    });
    progress(
      `all ${APPS * CLUSTERS} canaries Progressing ${((Date.now() - t1) / 1000).toFixed(1)} s after the deploy; warm-up ${WARMUP_MS / 1000} s`,
    );
    await sleep(WARMUP_MS);

    // The steady window.
    const start = Date.now();
    window = { start, end: start + WINDOW_MS };
    const eventsBefore = await countEvents(raw);
    const cpuBefore = process.cpuUsage();
    const eluBefore = performance.eventLoopUtilization();
    const childCpuBefore = await child.cpu();
    const pgBefore = postgresCpuMs();
    appends.reset();
    observations.resetTimes();
    verdicts.resetTimes();
    progress(
      `steady window: ${WINDOW_MS / 1000} s, load average ${loadavg()[0]?.toFixed(2)} on ${availableParallelism()} CPUs (tick delay target ${TICK_TARGET_MS} ms = the baseline of fleet.tick_delay_p99)`,
    );
    let lastPosition = await maxPosition(raw);
    let lastAt = Date.now();
    while (Date.now() < window.end) {
      await sleep(Math.min(10_000, window.end - Date.now()));
      const position = await maxPosition(raw);
      const at = Date.now();
      progress(
        `  t+${((at - start) / 1000).toFixed(0)} s: ~${Math.round((position - lastPosition) / ((at - lastAt) / 1000))} events/s, ` +
          `${tickDelays.length} ticks (p99 ${pct(tickDelays, 0.99)} ms), ingest backlog ${observations.backlog()}+${verdicts.backlog()}, ` +
          `weights ${weightRange(engine)}`,
      );
      lastPosition = position;
      lastAt = at;
    }
    const elapsed = (Date.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const elu = performance.eventLoopUtilization(eluBefore);
    const childCpu = await child.cpu();
    const pgAfter = postgresCpuMs();
    const eventsAfter = await countEvents(raw);
    window = { start, end: start };
    progress(`  ${appends.summary(elapsed)}; load average ${loadavg()[0]?.toFixed(2)}`);
    progress(`  ${observations.summary()}; ${verdicts.summary()}`);
    const phases = canaryPhases(engine);
    progress(
      `  ${await tickCadence(store, releaseOf(1, 2), clusterName(0), start, start + elapsed * 1000)}`,
    );
    const eventsPerSecond = (eventsAfter - eventsBefore) / elapsed;
    const cores = (cpu.user + cpu.system) / 1e6 / elapsed;
    progress(
      `window closed: ${eventsAfter - eventsBefore} events in ${elapsed.toFixed(1)} s ` +
        `(the load these canaries generate, not the log's ceiling); ${tickDelays.length} ticks ` +
        `(p50 ${pct(tickDelays, 0.5)}, p90 ${pct(tickDelays, 0.9)}, p99 ${pct(tickDelays, 0.99)}, max ${pct(tickDelays, 1)} ms); ` +
        `canaries ${[...phases].map(([p, n]) => `${p.replace('CANARY_PHASE_', '')} ${n}`).join(', ')}`,
    );
    progress(
      `  orchestrator process CPU ${cores.toFixed(3)} cores (user ${(cpu.user / 1e6 / elapsed).toFixed(3)}, system ${(cpu.system / 1e6 / elapsed).toFixed(3)}); ` +
        `main event loop utilization ${elu.utilization.toFixed(3)}; ` +
        `simulated fleet (child) ${((childCpu.user + childCpu.system - childCpuBefore.user - childCpuBefore.system) / 1e6 / elapsed).toFixed(3)} cores` +
        (pgBefore !== undefined && pgAfter !== undefined
          ? `; PostgreSQL (all its processes) ${((pgAfter - pgBefore) / 1000 / elapsed).toFixed(3)} cores`
          : ''),
    );

    // Rollback: one canary of one application starts failing its checks.
    const faultyCluster = clusterName(FAULTY.cluster);
    const faultyRelease = releaseOf(FAULTY.app, 2);
    const canaryBefore = engine.release(faultyRelease)?.state.canaries[faultyCluster];
    const rolledBack = child.routesToPrimary(faultyCluster);
    const faultAt = Date.now();
    await child.call({
      t: 'fault',
      cluster: faultyCluster,
      workload: workloadOf(FAULTY.app),
      revision: REVISIONS.release,
    });
    progress(
      `fault: ${REVISIONS.release} of ${appName(FAULTY.app)} fails its checks in ${faultyCluster} from now ` +
        `(canary ${canaryBefore?.phase.replace('CANARY_PHASE_', '')} at weight ${canaryBefore?.canaryWeightPercent}%)`,
    );
    const routed = await Promise.race([rolledBack, sleep(30_000).then(() => undefined)]);
    if (routed === undefined) throw new Error('no rollback to the primary within 30 s');
    const routedAt = routed.atMs;
    const rollbackMs = routedAt - faultAt;
    const faulty = engine.release(faultyRelease)?.state;
    progress(
      `rollback: routes back on the primary in ${faultyCluster} after ${rollbackMs} ms ` +
        `(${(rollbackMs / INTERVAL_MS).toFixed(2)} analysis intervals); release ${faultyRelease} halted: ${faulty?.halted}, ` +
        `its canaries ${[...countBy(Object.values(faulty?.canaries ?? {}).map((c) => c.phase))].map(([p, n]) => `${p.replace('CANARY_PHASE_', '')} ${n}`).join(', ')}`,
    );

    progress(
      `  ${await rollbackTimeline(store, faultyRelease, faultyCluster, faultAt, routed, faulty?.canaries[faultyCluster]?.phase)}`,
    );

    await stopEngine();
    const o = observations.stats;
    const v = verdicts.stats;
    progress(
      `ingest: ${o.handled} observations, ${v.handled} verdicts; ` +
        `dropped ${o.dropped + v.dropped}, retried ${o.retried + v.retried}` +
        (logged.size > 0
          ? `; engine warnings/errors: ${[...logged].map(([m, n]) => `${n}× ${m}`).join('; ')}`
          : '; no engine warnings or errors'),
    );

    // Baseline: single-row INSERTs of the engine's own rows into a copy of the events table.
    const baseline = await rawSingleInserts(raw);
    progress(
      `baseline: raw single-row INSERTs ${Math.round(baseline)} rows/s (${BASELINE_INSERTS} rows sampled from this run's log, ${POOL} connections)`,
    );

    report('fleet.events_appended', eventsPerSecond, 'events/s', baseline);
    report('fleet.tick_delay_p99', pct(tickDelays, 0.99), 'ms', TICK_TARGET_MS);
    report('fleet.orchestrator_cpu', cores * 1000, 'millicores', 1000);
    report('fleet.rollback_ms', rollbackMs, 'ms', INTERVAL_MS + 2000);
  } finally {
    await stopEngine().catch((error) => progress(`stopping the engine failed: ${error}`));
    child.stop();
    await store.close();
    // DROP … WITH (FORCE) below may end connections that pg has not finished closing.
    raw.removeAllListeners('error');
    raw.on('error', () => {});
    await raw.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

/** The simulated fleet in a child process, with batched messages both ways. */
function startFleetProcess() {
  const proc: ChildProcess = fork(fileURLToPath(import.meta.url), [CHILD_FLAG], {
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    execArgv: process.execArgv.filter((a) => !a.startsWith('--cpu-prof')),
  });
  let nextId = 1;
  const calls = new Map<number, (m: Extract<FromFleet, { t: 'done' }>) => void>();
  const rollbacks = new Map<string, (m: { atMs: number; commandId: string }) => void>();
  let outgoing: { subject: string; payload: Uint8Array }[] = [];
  let scheduled = false;
  let exited = false;
  proc.on('exit', (code, signal) => {
    exited = true;
    if (code !== 0 && signal !== 'SIGTERM') {
      progress(`simulated fleet exited with ${code ?? signal}`);
    }
  });
  const fleet = {
    pid: proc.pid,
    onInput: (_m: Extract<FromFleet, { t: 'in' }>) => {},
    publish(subject: string, payload: Uint8Array): void {
      outgoing.push({ subject, payload });
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        const list = outgoing;
        outgoing = [];
        if (!exited) send({ t: 'messages', list });
      });
    },
    call(m: ToFleetCall): Promise<Extract<FromFleet, { t: 'done' }>> {
      const id = nextId++;
      return new Promise((resolve) => {
        calls.set(id, resolve);
        send({ ...m, id } as ToFleet);
      });
    },
    async cpu(): Promise<NodeJS.CpuUsage> {
      return (await fleet.call({ t: 'cpu' })).cpu ?? { user: 0, system: 0 };
    },
    routesToPrimary(cluster: string): Promise<{ atMs: number; commandId: string }> {
      return new Promise((resolve) => rollbacks.set(cluster, resolve));
    },
    stop(): void {
      if (!exited) proc.kill('SIGTERM');
    },
  };
  function send(m: ToFleet): void {
    proc.send(m);
  }
  proc.on('message', (raw) => {
    const m = raw as FromFleet;
    if (m.t === 'in') fleet.onInput(m);
    else if (m.t === 'done') {
      calls.get(m.id)?.(m);
      calls.delete(m.id);
    } else if (m.t === 'routes-to-primary') {
      rollbacks.get(m.cluster)?.(m);
      rollbacks.delete(m.cluster);
    }
  });
  return fleet;
}
type ToFleetCall = ToFleet extends infer T
  ? T extends { id: number }
    ? Omit<T, 'id'>
    : never
  : never;

/**
 * As the NATS ingest: each message parsed and checked against its proto schema, then handed to
 * the engine, up to `INGEST_IN_FLIGHT` at once; refused inputs dropped, failures retried later.
 */
class Ingest {
  readonly stats = { handled: 0, dropped: 0, retried: 0 };
  /** Per message: waiting for an ingest slot, then handled by the engine (ms). */
  private waited: number[] = [];
  private handled: number[] = [];
  private readonly queue: { text: string; at: number }[] = [];
  private head = 0;
  private inFlight = 0;
  private readonly what: string;
  private readonly work: (text: string) => Promise<void>;
  private readonly waiters: (() => void)[] = [];

  constructor(what: string, work: (text: string) => Promise<void>) {
    this.what = what;
    this.work = work;
  }

  push(texts: readonly string[]): void {
    const at = performance.now();
    for (const text of texts) this.queue.push({ text, at });
    this.pump();
  }

  resetTimes(): void {
    this.waited = [];
    this.handled = [];
  }

  summary(): string {
    return `${this.what}s: ${this.handled.length} handled, waited for an ingest slot p50 ${pct(this.waited, 0.5).toFixed(0)} / p99 ${pct(this.waited, 0.99).toFixed(0)} ms, in the engine p50 ${pct(this.handled, 0.5).toFixed(0)} / p99 ${pct(this.handled, 0.99).toFixed(0)} ms`;
  }

  backlog(): number {
    return this.queue.length - this.head + this.inFlight;
  }

  idle(): Promise<void> {
    if (this.backlog() === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private pump(): void {
    while (this.inFlight < INGEST_IN_FLIGHT && this.head < this.queue.length) {
      const { text, at } = this.queue[this.head++] as { text: string; at: number };
      this.inFlight += 1;
      const started = performance.now();
      this.waited.push(started - at);
      void this.handle(text, 1).finally(() => {
        this.handled.push(performance.now() - started);
        this.inFlight -= 1;
        this.pump();
      });
    }
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.backlog() === 0) for (const resolve of this.waiters.splice(0)) resolve();
  }

  private async handle(text: string, attempt: number): Promise<void> {
    try {
      await this.work(text);
      this.stats.handled += 1;
    } catch (error) {
      const permanent =
        error instanceof AviaryError &&
        [ErrorCode.Validation, ErrorCode.Refused, ErrorCode.NotFound].includes(error.code as never);
      if (permanent || attempt >= 5) {
        this.stats.dropped += 1;
        if (this.stats.dropped <= 3) progress(`  ${this.what} dropped: ${String(error)}`);
        return;
      }
      this.stats.retried += 1;
      if (this.stats.retried <= 3) progress(`  ${this.what} retried: ${String(error)}`);
      await sleep(500 * 2 ** (attempt - 1));
      await this.handle(text, attempt + 1);
    }
  }
}

/** Latency of the engine's appends, per kind of stream (diagnostics of where time goes). */
class AppendTimes {
  private times = new Map<string, { ms: number[]; events: number }>();

  wrap(store: EventStore): EventStore {
    return new Proxy(store, {
      get: (target, prop) => {
        if (prop === 'append') {
          return async (...args: Parameters<EventStore['append']>) => {
            const started = performance.now();
            try {
              return await target.append(...args);
            } finally {
              const kind = args[0].slice(0, args[0].indexOf('-'));
              const entry = this.times.get(kind) ?? { ms: [], events: 0 };
              entry.ms.push(performance.now() - started);
              entry.events += args[1].length;
              this.times.set(kind, entry);
            }
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  reset(): void {
    this.times = new Map();
  }

  summary(seconds: number): string {
    return `appends: ${[...this.times]
      .map(
        ([kind, { ms, events }]) =>
          `${kind} ${Math.round(ms.length / seconds)}/s (${(events / ms.length).toFixed(1)} events each, ` +
          `p50 ${pct(ms, 0.5).toFixed(1)} ms, p99 ${pct(ms, 0.99).toFixed(1)} ms)`,
      )
      .join('; ')}`;
  }
}

/** Parses proto JSON strictly and returns its canonical JSON, as the NATS ingest does. */
function decode<T>(schema: DescMessage, text: string, what: string): T {
  try {
    return toJson(schema, fromJson(schema, JSON.parse(text) as JsonValue)) as T;
  } catch (error) {
    throw new AviaryError(ErrorCode.Validation, `invalid ${what}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function idle(...ingests: Ingest[]): Promise<void> {
  await Promise.all(ingests.map((i) => i.idle()));
}

/**
 * How often a release's ticks were due for its canaries: the canary decider takes a tick as due
 * only `intervalMs` after the previous due tick's `now`, while the engine schedules ticks on a
 * fixed cadence from their due times and stamps them with the time they run.
 */
async function tickCadence(
  store: EventStore,
  releaseId: string,
  cluster: string,
  fromMs: number,
  toMs: number,
): Promise<string> {
  const events = await store.readStream(`release-${releaseId}`);
  const ticks: number[] = [];
  const checks: number[] = [];
  for (const event of events) {
    if (event.type === 'TickRecorded') {
      ticks.push(Date.parse((event.data as { now: string }).now));
    } else if (event.type === 'AnalysisRequested') {
      const request = (event.data as { request: { cluster?: string; windowEnd?: string } }).request;
      if (request.cluster === cluster) checks.push(Date.parse(request.windowEnd ?? ''));
    }
  }
  let lastDue = 0;
  let due = 0;
  let inWindow = 0;
  for (const t of ticks) {
    const isDue = t >= lastDue + INTERVAL_MS;
    if (isDue) lastDue = t;
    if (t < fromMs || t > toMs) continue;
    inWindow += 1;
    if (isDue) due += 1;
  }
  const gaps = countBy(
    checks
      .filter((t) => t >= fromMs && t <= toMs)
      .map((t, i, all) => (i === 0 ? '' : `${((t - (all[i - 1] as number)) / 1000).toFixed(0)} s`))
      .filter((g) => g !== ''),
  );
  return (
    `${releaseId}: ${due} of its ${inWindow} ticks in the window were due for its canaries; ` +
    `gaps between ${cluster}'s checks: ${[...gaps].map(([g, n]) => `${n}× ${g}`).join(', ')}`
  );
}

/**
 * What the log says happened between the fault and the routes back on the primary: the tick
 * that asked for the failing check, the failed check, the ticks that were not due for the
 * canary, and the tick that rolled it back (whose command the agent applied).
 */
async function rollbackTimeline(
  store: EventStore,
  releaseId: string,
  cluster: string,
  faultAt: number,
  routed: { atMs: number; commandId: string },
  phase: string | undefined,
): Promise<string> {
  const events = (await store.readStream(`release-${releaseId}`)).filter(
    (e) => e.recordedAt.getTime() >= faultAt - 1000,
  );
  type Event = (typeof events)[number];
  const about = (e: Event) => {
    const d = e.data as {
      cluster?: string;
      command?: { cluster?: string };
      request?: { cluster?: string };
      verdict?: { cluster?: string };
    };
    return [d.cluster, d.command?.cluster, d.request?.cluster, d.verdict?.cluster].includes(
      cluster,
    );
  };
  const at = (ms: number | undefined) =>
    ms === undefined ? '?' : `${ms >= faultAt ? '+' : ''}${ms - faultAt} ms`;
  /** The `now` of the tick whose decision `event` is part of (same input), if it was a tick. */
  const tickOf = (event: Event) => {
    const tick = events.find(
      (e) => e.type === 'TickRecorded' && e.metadata.causationId === event.metadata.causationId,
    );
    return tick === undefined ? undefined : Date.parse((tick.data as { now?: string }).now ?? '');
  };
  const parts: string[] = [];
  const failedVerdict = events.find(
    (e) =>
      e.type === 'AnalysisVerdictRecorded' &&
      about(e) &&
      (e.data as { verdict?: { outcome?: string } }).verdict?.outcome === 'ANALYSIS_OUTCOME_FAILED',
  );
  const failedRequestId = (failedVerdict?.data as { verdict?: { requestId?: string } } | undefined)
    ?.verdict?.requestId;
  const request = events.find(
    (e) =>
      e.type === 'AnalysisRequested' &&
      (e.data as { request?: { requestId?: string } }).request?.requestId === failedRequestId,
  );
  if (request !== undefined)
    parts.push(`failing check asked by the tick of ${at(tickOf(request))}`);
  const failed = events.find((e) => e.type === 'CanaryCheckFailed' && about(e));
  if (failed !== undefined) parts.push(`CanaryCheckFailed ${at(failed.recordedAt.getTime())}`);
  const rolledBack = events.find((e) => e.type === 'CanaryRolledBack' && about(e));
  if (rolledBack !== undefined) {
    parts.push(`CanaryRolledBack by the tick of ${at(tickOf(rolledBack))}`);
    // Ticks after the fault that decided nothing for this canary (not due for it, or waiting).
    const idle = events.filter(
      (tick) =>
        tick.type === 'TickRecorded' &&
        tick.streamVersion < rolledBack.streamVersion &&
        Date.parse((tick.data as { now?: string }).now ?? '') >= faultAt &&
        !events.some(
          (e) => e !== tick && e.metadata.causationId === tick.metadata.causationId && about(e),
        ),
    );
    parts.push(
      `ticks after the fault that decided nothing for it: ${idle.length === 0 ? 'none' : idle.map((e) => at(Date.parse((e.data as { now?: string }).now ?? ''))).join(', ')}`,
    );
  }

  const command = events.find(
    (e) =>
      e.type === 'CanaryWeightRequested' &&
      (e.data as { command?: { commandId?: string } }).command?.commandId === routed.commandId,
  );
  const byRollback =
    command !== undefined &&
    rolledBack !== undefined &&
    command.metadata.causationId === rolledBack.metadata.causationId;
  parts.push(
    `routes applied ${at(routed.atMs)} (${routed.commandId}, ${byRollback ? 'the rollback’s command' : 'NOT the rollback’s command'}; canary ${phase?.replace('CANARY_PHASE_', '')})`,
  );
  return `rollback timeline in ${cluster}: ${parts.join('; ')}`;
}

function canaryPhases(engine: Engine): Map<string, number> {
  return countBy(
    range(APPS).flatMap((i) =>
      Object.values(engine.release(releaseOf(i, 2))?.state.canaries ?? {}).map((c) => c.phase),
    ),
  );
}

function weightRange(engine: Engine): string {
  const weights = range(APPS).flatMap((i) =>
    Object.values(engine.release(releaseOf(i, 2))?.state.canaries ?? {}).map(
      (c) => c.canaryWeightPercent,
    ),
  );
  return weights.length === 0 ? '-' : `${Math.min(...weights)}–${Math.max(...weights)}%`;
}

function outcomeOf(engine: Engine, releaseId: string): string {
  const state = engine.release(releaseId)?.state;
  if (state === undefined) return 'missing';
  if (!state.finished) return 'running';
  return state.halted ? 'halted' : 'succeeded';
}

function summarize(outcomes: readonly string[]): string {
  return [...countBy(outcomes)].map(([o, n]) => `${n} ${o}`).join(', ');
}

async function countEvents(raw: pg.Pool): Promise<number> {
  const { rows } = await raw.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
  return Number(rows[0]?.n ?? 0);
}

async function maxPosition(raw: pg.Pool): Promise<number> {
  const { rows } = await raw.query<{ p: string | null }>(
    'SELECT max(global_position)::text AS p FROM events',
  );
  return Number(rows[0]?.p ?? 0);
}

/** Single-row INSERTs on `POOL` connections of rows the engine wrote (types, data, metadata). */
async function rawSingleInserts(raw: pg.Pool): Promise<number> {
  await raw.query('CREATE TABLE raw_events (LIKE events INCLUDING ALL)');
  const { rows } = await raw.query<{ event_type: string; data: string; metadata: string }>(
    `SELECT event_type, data::text AS data, metadata::text AS metadata
     FROM events ORDER BY global_position DESC LIMIT 2000`,
  );
  if (rows.length === 0) throw new Error('no events to sample');
  let next = 0;
  const start = performance.now();
  await Promise.all(
    range(POOL).map(async () => {
      while (next < BASELINE_INSERTS) {
        const i = next++;
        const row = rows[i % rows.length] as (typeof rows)[number];
        await raw.query(
          `INSERT INTO raw_events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata)
           VALUES ($1, 1, $1, $2, 1, $3::jsonb, $4::jsonb)`,
          [`raw-${i}`, row.event_type, row.data, row.metadata],
        );
      }
    }),
  );
  return BASELINE_INSERTS / ((performance.now() - start) / 1000);
}

/** CPU milliseconds of every `postgres` process (Linux /proc), if readable. */
function postgresCpuMs(): number | undefined {
  try {
    let ticks = 0;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        const comm = stat.slice(stat.indexOf('(') + 1, close);
        if (comm !== 'postgres') continue;
        const fields = stat.slice(close + 2).split(' ');
        ticks += Number(fields[11]) + Number(fields[12]);
      } catch {}
    }
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

function pct(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(what: string, timeoutMs: number, done: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// The simulated fleet (child process): agents and analyzer answering over IPC

async function simulatedFleetProcess(namespace: MessagingNamespace): Promise<void> {
  const send = (m: FromFleet) => process.send?.(m);
  let observations: string[] = [];
  let verdicts: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (observations.length === 0 && verdicts.length === 0) return;
    send({ t: 'in', observations, verdicts });
    observations = [];
    verdicts = [];
  };
  const later = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };
  /** `<cluster>|<namespace>/<name>|<revision>` whose checks fail. */
  const faults = new Set<string>();
  /** `<cluster>|<namespace>/<name>` watched for routes back on the primary. */
  const watched = new Set<string>();
  const key = (cluster: string, w: { namespace?: string; name?: string } | undefined) =>
    `${cluster}|${w?.namespace ?? ''}/${w?.name ?? ''}`;
  const fleet = new SimulatedFleet({
    namespace,
    clusters: CLUSTER_LIST,
    observe: async (o) => {
      observations.push(JSON.stringify(o));
      later();
      const routes = o.routesApplied;
      if (routes !== undefined && (routes.routes?.canaryWeightPercent ?? 0) === 0) {
        const k = key(o.cluster ?? '', routes.workload);
        if (watched.delete(k))
          send({
            t: 'routes-to-primary',
            cluster: o.cluster ?? '',
            atMs: Date.now(),
            commandId: routes.commandId ?? '',
          });
      }
    },
    verdict: async (v) => {
      verdicts.push(JSON.stringify(v));
      later();
    },
    behaviour: (revision, request): AnalysisOutcomeJson =>
      faults.has(`${key(request.cluster ?? '', request.workload)}|${revision}`)
        ? 'ANALYSIS_OUTCOME_FAILED'
        : 'ANALYSIS_OUTCOME_SUCCESSFUL',
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  let queue = Promise.resolve();
  process.on('message', (raw) => {
    const m = raw as ToFleet;
    queue = queue.then(async () => {
      switch (m.t) {
        case 'messages':
          for (const message of m.list) {
            await fleet.deliver(message).catch((error) => {
              process.stderr.write(`simulated fleet: ${String(error)}\n`);
            });
          }
          return;
        case 'heartbeats':
          await fleet.heartbeats();
          break;
        case 'deploy':
          await fleet.deploy(m.workload, m.revision);
          break;
        case 'fault':
          watched.add(key(m.cluster, m.workload));
          faults.add(`${key(m.cluster, m.workload)}|${m.revision}`);
          break;
        case 'cpu':
          break;
      }
      // What the call produced goes before its answer.
      flush();
      send({ t: 'done', id: m.id, ...(m.t === 'cpu' ? { cpu: process.cpuUsage() } : {}) });
    });
  });
}

if (process.argv.includes(CHILD_FLAG)) await simulatedFleetProcess(messagingNamespace());
