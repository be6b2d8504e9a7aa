/**
 * The projections' test suite, run on PGlite (`projections.test.ts`) and on PostgreSQL
 * (`projections.int.test.ts`): real release histories from the decider's scenarios, stored the
 * way the engine stores them, projected, and read back through the read model.
 */
import { readdirSync } from 'node:fs';
import type { ReleaseState } from '@aviary/decider';
import {
  type CorruptEvent,
  comparePositions,
  type GlobalPosition,
  type RecordedEvent,
  START,
} from '@aviary/event-store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReadModel, ReleaseView } from '../ports.ts';
import { projectBatch } from './project-batch.ts';
import { PROJECTIONS_CONSUMER_ID, Projector } from './projector.ts';
import { activeReleases, applicationStreams, createReadModel, fleetView } from './read-model.ts';
import {
  dumpProjections,
  loadScenario,
  type OpenHarness,
  type ProjectionHarness,
  SCENARIOS,
  storeScenario,
} from './test-support.ts';

const APP = { namespace: 'test', name: 'podinfo' };

export interface SuiteOptions {
  /** Several projectors on one database (PostgreSQL: other processes' connections). */
  readonly concurrentProjectors: boolean;
}

export function describeProjections(
  backend: string,
  open: OpenHarness,
  options: SuiteOptions,
): void {
  describe(`projections on ${backend}`, () => {
    let h: ProjectionHarness;
    let projector: Projector;
    let read: ReadModel;
    let corrupt: CorruptEvent[];

    const newProjector = () =>
      new Projector({
        store: h.store,
        db: h.db,
        pollIntervalMs: 50,
        batchSize: 100,
        onCorrupt: (c) => corrupt.push(c),
      });

    beforeEach(async () => {
      h = await open();
      corrupt = [];
      projector = newProjector();
      read = createReadModel(h.db);
    });
    afterEach(async () => {
      await projector.stop();
      await h.close();
    });

    /** Every event of the log, in global order. */
    const readAll = async (): Promise<RecordedEvent[]> => {
      const events: RecordedEvent[] = [];
      let after: GlobalPosition = START;
      for (;;) {
        const page = await h.store.readAll({ after, limit: 1000 });
        events.push(...page.events);
        after = page.position;
        if (!page.hasMore) return events;
      }
    };

    it('projects a release that halts in its second wave: applications, releases, canaries, timeline, clusters, fleet view', async () => {
      projector.start();
      const stored = await storeScenario(h.store, loadScenario('fleet-wave-2-failure.yaml'));
      await projector.waitFor(stored.position);
      const releaseEvents = stored.streams.get(`release-${stored.releaseId}`) ?? [];

      const [application] = await read.applications();
      expect(application).toMatchObject({ ...APP, appliedBy: 'alice', gates: {} });
      expect(application?.activeReleaseId).toBeUndefined();
      expect(application?.spec).toMatchObject({ kind: 'Rollout' });
      expect(await read.application(APP)).toEqual(application);
      expect(await read.application({ namespace: 'test', name: 'other' })).toBeUndefined();

      const release = await read.release(stored.releaseId);
      expect(release).toMatchObject({
        releaseId: 'test.podinfo.1',
        application: APP,
        revisionId: 'rev-new',
        status: 'finished',
        outcome: 'RELEASE_OUTCOME_FAILED',
        reason: 'halted by the failure policy',
        currentWave: 1,
        waves: [
          { name: 'canary', clusters: ['eu-1'], status: 'succeeded' },
          { name: 'europe', clusters: ['eu-2', 'eu-3'], status: 'running' },
          { name: 'rest', clusters: ['us-1', 'us-2'], status: 'pending' },
        ],
        version: releaseEvents.length,
      });
      expect(Date.parse(release?.finishedAt ?? '')).toBeGreaterThanOrEqual(
        Date.parse(release?.startedAt ?? ''),
      );
      expect(await read.releases()).toEqual([release]);
      expect(await read.releases({ active: true })).toEqual([]);
      expect(await read.releases({ application: APP, active: false, limit: 5 })).toEqual([release]);
      expect(await read.releases({ application: { namespace: 'x', name: 'y' } })).toEqual([]);

      const canaries = await read.canaries(stored.releaseId);
      expect(canaries.map((c) => [c.cluster, c.phase, c.canaryWeightPercent])).toEqual([
        ['eu-1', 'CANARY_PHASE_SUCCEEDED', 0],
        ['eu-2', 'CANARY_PHASE_SUCCEEDED', 0],
        ['eu-3', 'CANARY_PHASE_FAILED', 0],
        ['us-1', 'CANARY_PHASE_UNSPECIFIED', 0],
        ['us-2', 'CANARY_PHASE_UNSPECIFIED', 0],
      ]);
      expect(canaries[2]).toMatchObject({
        primaryWeightPercent: 100,
        failedChecks: 1,
        paused: false,
        skipped: false,
      });

      const timeline = await read.timeline(stored.releaseId);
      expect(timeline).toHaveLength(releaseEvents.length);
      expect(timeline.map((t) => t.streamVersion)).toEqual(releaseEvents.map((_, i) => i + 1));
      expect(timeline.map((t) => t.type)).toEqual(releaseEvents.map((e) => e.type));
      const summaries = timeline.map((t) => t.summary);
      expect(summaries).toContain('wave canary started (eu-1)');
      expect(summaries).toContain('wave europe started (eu-2, eu-3)');
      expect(summaries).toContain('eu-1: weight 50% → canary');
      expect(summaries).toContain('eu-3: check request-success-rate failed (1/1)');
      expect(summaries).toContain('fleet halted in wave europe (halt): cluster canary eu-3 failed');
      expect(summaries.at(-1)).toBe('release failed: halted by the failure policy');
      const weight = timeline.find((t) => t.type === 'CanaryWeightApplied');
      expect(weight).toMatchObject({ cluster: 'eu-1', data: { cluster: 'eu-1' } });
      expect(weight?.position).toMatch(/^\d+:\d+$/);
      expect(timeline.find((t) => t.type === 'TickRecorded')?.cluster).toBeUndefined();
      const page = await read.timeline(stored.releaseId, { afterVersion: 3, limit: 2 });
      expect(page.map((t) => t.streamVersion)).toEqual([4, 5]);

      const clusters = await read.clusters();
      expect(clusters.map((c) => c.name)).toEqual(['eu-1', 'eu-2', 'eu-3', 'us-1', 'us-2']);
      expect(clusters[0]).toMatchObject({
        labels: { region: 'eu', env: 'prod' },
        agentVersion: '1',
        leaseMs: 0,
      });

      const fleet = await fleetView(h.db, APP);
      expect(fleet.map((f) => f.cluster)).toEqual(['eu-1', 'eu-2', 'eu-3', 'us-1', 'us-2']);
      const eu1 = stored.streams.get('cluster-eu-1') ?? [];
      const latest = (pick: (o: Record<string, unknown>) => boolean) =>
        eu1
          .map((e) => (e.data as { observation: Record<string, unknown> }).observation)
          .filter(pick)
          .at(-1);
      const role = (r: string) => (o: Record<string, unknown>) =>
        (o.workloadReadiness as { role?: string } | undefined)?.role === r;
      expect(fleet[0]?.revisionSeen).toEqual(latest((o) => o.revisionSeen !== undefined));
      expect(fleet[0]?.canaryReadiness).toEqual(latest(role('DEPLOYMENT_ROLE_CANARY')));
      expect(fleet[0]?.primaryReadiness).toEqual(latest(role('DEPLOYMENT_ROLE_PRIMARY')));
      expect(fleet[3]).toMatchObject({ cluster: 'us-1' });
      expect(fleet[3]?.canaryReadiness).toBeUndefined();

      expect(await activeReleases(h.db)).toEqual([]);
      expect(await applicationStreams(h.db)).toEqual([APP]);
      expect(corrupt).toEqual([]);
    });

    it('shows a release still running: active release, current wave, gates', async () => {
      projector.start();
      const run = loadScenario('fleet-three-waves.yaml');
      const firstPromotion = run.history.findIndex((e) => e.type === 'CanaryPromoted');
      const stored = await storeScenario(h.store, {
        ...run,
        history: run.history.slice(0, firstPromotion + 1),
      });
      const appStream = `rollout-${APP.namespace}.${APP.name}`;
      const gate = await h.store.append(
        appStream,
        [{ type: 'GateChanged', data: { gate: 'approve', open: true, actor: 'bob' } }],
        { expectedVersion: 'stream_exists' },
      );
      await projector.waitFor(gate.position ?? START);

      const release = await read.release(stored.releaseId);
      expect(release).toMatchObject({ status: 'running', currentWave: 0 });
      expect(release?.outcome).toBeUndefined();
      expect(release?.finishedAt).toBeUndefined();
      expect(release?.waves[0]?.status).toBe('running');
      expect(await read.releases({ active: true })).toEqual([release]);
      expect(await read.application(APP)).toMatchObject({
        activeReleaseId: stored.releaseId,
        gates: { approve: true },
      });
      expect(await activeReleases(h.db)).toEqual([
        { releaseId: stored.releaseId, application: APP },
      ]);
      const [eu1] = await read.canaries(stored.releaseId);
      expect(eu1).toMatchObject({ cluster: 'eu-1', phase: 'CANARY_PHASE_PROMOTING' });
    });

    it('lists a release created but not started yet as active, without a release view', async () => {
      projector.start();
      const created = await h.store.append(
        'rollout-shop.cart',
        [
          {
            type: 'ReleaseCreated',
            data: {
              releaseId: 'shop.cart.1',
              revision: { id: 'rev-9' },
              reason: 'revision-seen',
              actor: 'aviary-orchestrator',
              cluster: 'eu-1',
            },
          },
        ],
        { expectedVersion: 'no_stream' },
      );
      await projector.waitFor(created.position ?? START);
      expect(await activeReleases(h.db)).toEqual([
        { releaseId: 'shop.cart.1', application: { namespace: 'shop', name: 'cart' } },
      ]);
      expect(await read.release('shop.cart.1')).toBeUndefined();
      expect(await read.releases()).toEqual([]);
      // No spec yet: a stream, but no application view.
      expect(await applicationStreams(h.db)).toEqual([{ namespace: 'shop', name: 'cart' }]);
      expect(await read.applications()).toEqual([]);
    });

    it('agrees with the decider on every scenario: phases, confirmed weights, counters, pauses, waves', async () => {
      projector.start();
      const files = readdirSync(SCENARIOS)
        .filter((f) => f.endsWith('.yaml'))
        .sort();
      const stored = [];
      for (const file of files) {
        const name = file.replace(/\.yaml$/, '');
        stored.push(await storeScenario(h.store, loadScenario(file, { name })));
      }
      await projector.waitFor(stored.at(-1)?.position ?? START);
      expect(corrupt).toEqual([]);
      for (const s of stored) {
        const state: ReleaseState = s.run.state;
        const release = await read.release(s.releaseId);
        expect(release, s.run.name).toBeDefined();
        expect(release?.status, s.run.name).toBe(expectedStatus(state));
        expect(release?.currentWave, s.run.name).toBe(state.currentWave);
        expect(release?.supersededBy, s.run.name).toBe(state.supersededBy);
        expect(
          release?.waves.map((w) => w.status),
          s.run.name,
        ).toEqual(expectedWaves(state));
        const canaries = await read.canaries(s.releaseId);
        expect(
          canaries.map((c) => c.cluster),
          s.run.name,
        ).toEqual(state.waves.flatMap((w) => w.clusters));
        for (const c of canaries) {
          const decided = state.canaries[c.cluster];
          expect(
            {
              phase: c.phase,
              canary: c.canaryWeightPercent,
              primary: c.primaryWeightPercent,
              failedChecks: c.failedChecks,
              iterations: c.iterations,
              paused: c.paused,
              skipped: c.skipped,
              revert: c.revert && { status: c.revert.status, revisionId: c.revert.revisionId },
            },
            `${s.run.name} ${c.cluster}`,
          ).toEqual({
            phase: decided?.phase,
            canary: decided?.canaryWeightPercent,
            primary: decided?.primaryWeightPercent,
            failedChecks: decided?.failedChecks,
            iterations: decided?.iterations,
            paused: decided?.paused,
            skipped: state.skipped.includes(c.cluster),
            revert: revertOf(state, c.cluster),
          });
        }
      }
      expect(await applicationStreams(h.db)).toHaveLength(files.length);
    }, 120_000);

    it('changes nothing when a batch is delivered again, whole or in part', async () => {
      projector.start();
      const stored = await storeScenario(h.store, loadScenario('operator-pause-resume.yaml'));
      await projector.waitFor(stored.position);
      await projector.stop();
      const before = await dumpProjections(h.db);
      const events = await readAll();

      const again = await projectBatch(h.db, events);
      expect(again).toMatchObject({ applied: 0, duplicates: events.length });
      const half = await projectBatch(h.db, events.slice(events.length / 2));
      expect(half.applied).toBe(0);
      expect(await dumpProjections(h.db)).toEqual(before);

      // A crash after the commit, before the checkpoint: the subscription delivers it all again.
      await h.store.checkpoints.store(PROJECTIONS_CONSUMER_ID, START);
      projector = newProjector();
      projector.start();
      await projector.waitFor(stored.position);
      expect(await dumpProjections(h.db)).toEqual(before);
      expect(corrupt).toEqual([]);
    });

    it('applies only the new events of a batch that overlaps what is projected', async () => {
      const stored = await storeScenario(h.store, loadScenario('threshold-rollback.yaml'));
      const events = await readAll();
      const cut = Math.floor(events.length / 3);
      expect((await projectBatch(h.db, events.slice(0, 2 * cut))).applied).toBe(2 * cut);
      const overlap = await projectBatch(h.db, events.slice(cut));
      expect(overlap).toMatchObject({ applied: events.length - 2 * cut, duplicates: cut });
      const byBatches = await dumpProjections(h.db);
      projector.start();
      await projector.waitFor(stored.position);
      await projector.rebuild();
      await projector.waitFor(stored.position);
      expect(await dumpProjections(h.db)).toEqual(byBatches);
    });

    it('rebuilds from zero to identical rows, while waiters wait through the rebuild', async () => {
      projector.start();
      const stored = await storeScenario(h.store, loadScenario('fleet-skip-requeue.yaml'));
      await projector.waitFor(stored.position);
      const before = await dumpProjections(h.db);
      expect(before.proj_timeline?.length).toBeGreaterThan(50);

      const rebuilding = projector.rebuild();
      const waiting = projector.waitFor(stored.position);
      await rebuilding;
      await waiting;
      expect(await dumpProjections(h.db)).toEqual(before);
      expect(await h.store.checkpoints.load(PROJECTIONS_CONSUMER_ID)).toEqual(projector.position);
    });

    it('reports a corrupt event and an unprojectable one, and goes on with the rest', async () => {
      projector.start();
      const run = loadScenario('canary-step-weight.yaml');
      const cut = run.history.findIndex((e) => e.type === 'WaveStarted') + 1;
      const first = await storeScenario(h.store, { ...run, history: run.history.slice(0, cut) });
      const stream = `release-${first.releaseId}`;
      const version = (await h.store.streamVersion(stream)) ?? 0n;
      // A row no reader can decode (unknown type), written behind the store's back.
      await h.sql(
        `INSERT INTO events (stream_id, stream_version, event_id, event_type, data)
         VALUES ('${stream}', ${version + 1n}, 'corrupt-1', 'NoSuchEvent', '{}')`,
      );
      await h.sql(`UPDATE streams SET version = ${version + 1n} WHERE stream_id = '${stream}'`);
      // A valid event the projections cannot place: a wave the release does not have.
      await h.store.append(
        stream,
        [
          { type: 'WaveBaking', data: { waveIndex: 7, bakeUntil: '2026-11-23T10:00:00Z' } },
          { type: 'TickRecorded', data: { now: '2026-11-23T09:01:30Z' } },
        ],
        { expectedVersion: version + 1n },
      );
      const end = await h.store.append(
        stream,
        [{ type: 'ReleasePaused', data: { reason: 'investigating', actor: 'carol' } }],
        { expectedVersion: version + 3n },
      );
      await projector.waitFor(end.position ?? START);

      // The subscription reports undecodable rows after the batch's handler.
      const reported = corrupt.map((c) => [c.type, c.streamVersion]);
      expect(reported.sort((a, b) => Number(a[1]) - Number(b[1]))).toEqual([
        ['NoSuchEvent', version + 1n],
        ['WaveBaking', version + 2n],
      ]);
      expect(corrupt.find((c) => c.type === 'WaveBaking')?.reason).toContain('wave 7');
      const release = await read.release(first.releaseId);
      expect(release).toMatchObject({
        status: 'paused',
        reason: 'investigating',
        version: Number(version + 4n),
      });
      expect((await read.canaries(first.releaseId)).every((c) => c.paused)).toBe(true);
      const timeline = await read.timeline(first.releaseId, { afterVersion: Number(version) });
      expect(timeline.map((t) => [t.streamVersion, t.type])).toEqual([
        [Number(version + 2n), 'WaveBaking'],
        [Number(version + 3n), 'TickRecorded'],
        [Number(version + 4n), 'ReleasePaused'],
      ]);
      expect(timeline.at(-1)).toMatchObject({
        actor: 'carol',
        summary: 'release paused by carol: investigating',
      });
    });

    it('waitFor: resolves once projected, rejects when aborted or stopped', async () => {
      const tick = { type: 'TickRecorded', data: { now: '2026-11-23T09:00:00Z' } };
      await expect(projector.waitFor({ transactionId: 1n, position: 1n })).rejects.toMatchObject({
        code: 'ABORTED',
      });
      projector.start();
      const first = await h.store.append('release-w', [tick], { expectedVersion: 'no_stream' });
      await projector.waitFor(first.position ?? START);
      expect(comparePositions(projector.position, first.position ?? START)).toBeGreaterThanOrEqual(
        0,
      );
      expect(await read.timeline('w')).toHaveLength(1);

      const future = { transactionId: 1n << 60n, position: 1n };
      const controller = new AbortController();
      const aborted = projector.waitFor(future, controller.signal);
      controller.abort();
      await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
      const stopped = projector.waitFor(future);
      await projector.stop();
      await expect(stopped).rejects.toMatchObject({ code: 'ABORTED' });

      // Restarted from a checkpoint already past the position: resolves without new events.
      projector = newProjector();
      projector.start();
      await projector.waitFor(first.position ?? START);
    });

    if (options.concurrentProjectors) {
      it('two projectors on one database (two orchestrators) give the rows one gives', async () => {
        const run = loadScenario('fleet-max-parallel.yaml');
        const other = newProjector();
        projector.start();
        other.start();
        try {
          const stored = await storeScenario(h.store, run, { maxEventsPerAppend: 3 });
          await projector.waitFor(stored.position);
          await other.waitFor(stored.position);
        } finally {
          await other.stop();
        }
        const both = await dumpProjections(h.db);
        await projector.rebuild();
        await projector.waitFor((await readAll()).at(-1)?.position ?? START);
        expect(await dumpProjections(h.db)).toEqual(both);
      });
    }
  });
}

function expectedStatus(state: ReleaseState): ReleaseView['status'] {
  if (state.finished) return 'finished';
  if (state.halted) return 'halted';
  if (state.paused) return 'paused';
  return 'running';
}

function expectedWaves(state: ReleaseState): string[] {
  return state.waves.map((_, i) =>
    i < state.currentWave ? 'succeeded' : i === state.currentWave ? state.waveStatus : 'pending',
  );
}

function revertOf(state: ReleaseState, cluster: string) {
  const revert = state.reverts.find((r) => r.cluster === cluster);
  return revert && { status: revert.status, revisionId: revert.revisionId };
}
