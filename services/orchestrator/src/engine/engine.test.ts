/**
 * The engine over a real (embedded) event log, with a simulated fleet answering its outbox at
 * the message level: releases are created from revisions seen, walk their waves, stop on a
 * faulty revision, survive a restart, and replay to the same decisions.
 */
import { replay } from '@aviary/decider';
import { type EventStore, OutboxRelay, openPGliteEventStore } from '@aviary/event-store';
import { messagingNamespace } from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import type { AnalysisOutcomeJson } from '@aviary/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { openEventLog } from '../event-log.ts';
import type { Actor } from '../ports.ts';
import { SimulatedFleet } from '../simulation/simulated-fleet.ts';
import { HttpWebhookCaller } from '../webhooks/caller.ts';
import { WebhookDispatcher } from '../webhooks/dispatcher.ts';
import { Engine, type EngineOptions } from './engine.ts';
import { applicationStreamId, releaseStreamId } from './ids.ts';
import { ReleaseActor } from './release-actor.ts';
import { databaseSnapshots } from './snapshots.ts';

const namespace = messagingNamespace();
const logger = createLogger({ service: 'engine-test', level: 'silent' });
const alice: Actor = { name: 'alice', role: 'operator' };
const workload = { namespace: 'shop', name: 'podinfo', kind: 'WORKLOAD_KIND_DEPLOYMENT' } as const;

const spec = (extra = '') => `
apiVersion: aviary.dev/v1alpha1
kind: Rollout
metadata: { name: podinfo, namespace: shop }
spec:
  targetRef: { kind: Deployment, name: podinfo }
  provider: istio
  service: { port: 9898 }
  fleet:
    failurePolicy: halt
    waves:
      - { name: first, clusters: [eu-1], bake: 0s }
      - { name: rest, clusters: [eu-2, us-1], maxParallel: all, bake: 0s }
  analysis:
    intervalMs: 1000
    threshold: 1
    stepWeight: 50
    maxWeight: 50
    metrics:
      - name: request-success-rate
        thresholdRange: { min: 99 }
${extra}`;

interface System {
  store: EventStore;
  engine: Engine;
  fleet: SimulatedFleet;
  relay: OutboxRelay;
  stop(): Promise<void>;
}

const running: System[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
});

/** Faulty revisions fail every check; `cluster/revision` entries only in that cluster. */
const faulty = new Set<string>();
const behaviour = (revision: string, request: { cluster?: string }): AnalysisOutcomeJson =>
  faulty.has(revision) || faulty.has(`${request.cluster ?? ''}/${revision}`)
    ? 'ANALYSIS_OUTCOME_FAILED'
    : 'ANALYSIS_OUTCOME_SUCCESSFUL';

async function system(
  store?: EventStore,
  fleetOf?: SimulatedFleet,
  extra: Partial<EngineOptions> = {},
): Promise<System> {
  const log = store ?? (await openPGliteEventStore());
  let engine: Engine | undefined;
  const fleet =
    fleetOf ??
    new SimulatedFleet({
      namespace,
      clusters: [
        { name: 'eu-1', labels: { region: 'eu' } },
        { name: 'eu-2', labels: { region: 'eu' } },
        { name: 'us-1', labels: { region: 'us' } },
      ],
      observe: (o) => engine?.ingestObservation(o) ?? Promise.resolve(),
      verdict: (v) => engine?.recordVerdict(v) ?? Promise.resolve(),
      behaviour,
    });
  engine = new Engine({
    store: log,
    namespace,
    logger,
    publishCommand: (subject, payload) => fleet.deliver({ subject, payload }),
    ...extra,
  });
  await engine.recover();
  const relay = new OutboxRelay({
    outbox: log.outbox,
    publisher: {
      // Answers arrive asynchronously, as over NATS.
      publish: async (message) => {
        setImmediate(() => void fleet.deliver(message).catch(() => undefined));
      },
    },
    logger,
    pollIntervalMs: 20,
  });
  relay.start();
  engine.start();
  const webhooks = new WebhookDispatcher({
    store: log,
    caller: new HttpWebhookCaller({
      gateOpen: (app, gate) => engine?.gateOpen(app, gate) ?? false,
    }),
    recordWebhookResult: (releaseId, result) =>
      engine?.recordWebhookResult(releaseId, result) ?? Promise.resolve(),
    pollIntervalMs: 20,
  });
  webhooks.start();
  const s: System = {
    store: log,
    engine,
    fleet,
    relay,
    async stop() {
      await webhooks.stop();
      await relay.stop();
      await engine?.stop();
      if (!store) await log.close();
    },
  };
  running.push(s);
  return s;
}

async function finished(s: System, releaseId: string, timeout = 30_000) {
  await expect
    .poll(() => s.engine.release(releaseId)?.finished, { timeout, interval: 50 })
    .toBe(true);
  return (await s.store.readStream(releaseStreamId(releaseId))).map((e) => ({
    type: e.type,
    data: e.data,
  }));
}

describe('engine', { timeout: 90_000 }, () => {
  it('creates a release from a revision seen, walks both waves, and ends promoted everywhere', async () => {
    const s = await system();
    await s.engine.applySpec(spec(), alice);
    await s.fleet.heartbeats();
    await s.fleet.deploy(workload, 'v1');
    const bootstrap = await finished(s, 'shop.podinfo.1');
    expect(bootstrap.find((e) => e.type === 'ReleaseFinished')?.data).toMatchObject({
      outcome: 'RELEASE_OUTCOME_SUCCEEDED',
    });
    for (const c of ['eu-1', 'eu-2', 'us-1'])
      expect(s.fleet.primaryRevision(c, workload)).toBe('v1');

    await s.fleet.deploy(workload, 'v2');
    const events = await finished(s, 'shop.podinfo.2');
    expect(events.find((e) => e.type === 'ReleaseFinished')?.data).toMatchObject({
      outcome: 'RELEASE_OUTCOME_SUCCEEDED',
    });
    for (const c of ['eu-1', 'eu-2', 'us-1'])
      expect(s.fleet.primaryRevision(c, workload)).toBe('v2');
    // Wave order: eu-1 promoted before the second wave started.
    const promotedEu1 = events.findIndex(
      (e) => e.type === 'CanaryPromoted' && (e.data as { cluster?: string }).cluster === 'eu-1',
    );
    const secondWave = events.findIndex(
      (e) => e.type === 'WaveStarted' && (e.data as { waveIndex?: number }).waveIndex === 1,
    );
    expect(promotedEu1).toBeGreaterThan(0);
    expect(secondWave).toBeGreaterThan(promotedEu1);
    // The application stream says which releases were created, and why.
    const app = await s.store.readStream(
      applicationStreamId({ namespace: 'shop', name: 'podinfo' }),
    );
    expect(app.map((e) => e.type)).toEqual([
      'RolloutSpecApplied',
      'ReleaseCreated',
      'ReleaseCreated',
    ]);
    // The recorded release replays to the same decisions.
    const replayed = replay(events as never);
    expect(replayed.ok).toBe(true);
  });

  it('releases a revision seen while the Rollout was being applied (no lost bootstrap)', async () => {
    // The agent's report arrives for an application not known yet: it is recorded on the
    // cluster's stream. The Rollout is applied while that append is still in flight, so the
    // apply's look at the revisions already seen finds nothing. The report must still release.
    const base = await openPGliteEventStore();
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let held = false;
    const append: EventStore['append'] = async (streamId, events, options) => {
      if (streamId.startsWith('cluster-') && !held) {
        held = true;
        await gate;
      }
      return base.append(streamId, events, options);
    };
    const gated = new Proxy(base, {
      get: (target, key) => {
        if (key === 'append') return append;
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const s = await system(gated);
    const seen = s.engine.ingestObservation({
      observationId: 'eu-1:revision:race',
      cluster: 'eu-1',
      observedAt: new Date().toISOString(),
      revisionSeen: { workload, revision: { id: 'v1' } },
    });
    await expect.poll(() => held).toBe(true);
    await s.engine.applySpec(spec(), alice);
    open();
    await seen;
    await expect
      .poll(() => s.engine.release('shop.podinfo.1')?.context.revisionId, { timeout: 10_000 })
      .toBe('v1');
    running.splice(running.indexOf(s), 1);
    await s.stop();
    await base.close();
  });

  it('stops a faulty revision in the first wave: rolled back there, no traffic elsewhere, release failed', async () => {
    const s = await system();
    await s.engine.applySpec(spec(), alice);
    await s.fleet.heartbeats();
    await s.fleet.deploy(workload, 'v1');
    await finished(s, 'shop.podinfo.1');
    faulty.add('v3');
    await s.fleet.deploy(workload, 'v3');
    const events = await finished(s, 'shop.podinfo.2');
    expect(events.find((e) => e.type === 'ReleaseFinished')?.data).toMatchObject({
      outcome: 'RELEASE_OUTCOME_FAILED',
    });
    expect(events.some((e) => e.type === 'FleetHalted')).toBe(true);
    const weighted = events
      .filter((e) => e.type === 'CanaryWeightRequested')
      .map(
        (e) =>
          (
            e.data as {
              command: { cluster: string; setRoutes: { routes: { canaryWeightPercent?: number } } };
            }
          ).command,
      )
      .filter((c) => (c.setRoutes.routes.canaryWeightPercent ?? 0) > 0)
      .map((c) => c.cluster);
    expect(new Set(weighted)).toEqual(new Set(['eu-1']));
    for (const c of ['eu-1', 'eu-2', 'us-1'])
      expect(s.fleet.primaryRevision(c, workload)).toBe('v1');
    const r = replay(events as never);
    expect(r.ok).toBe(true);

    // Fixed: a retry is a new release of the same revision, with the operator's reason.
    faulty.delete('v3');
    const retried = await s.engine.retryRelease('shop.podinfo.2', alice, 'fixed the dependency');
    expect(retried.releaseId).toBe('shop.podinfo.3');
    const again = await finished(s, 'shop.podinfo.3');
    expect(again.find((e) => e.type === 'ReleaseFinished')?.data).toMatchObject({
      outcome: 'RELEASE_OUTCOME_SUCCEEDED',
    });
    const app = await s.store.readStream(
      applicationStreamId({ namespace: 'shop', name: 'podinfo' }),
    );
    expect(app.at(-1)).toMatchObject({
      type: 'ReleaseCreated',
      data: {
        releaseId: 'shop.podinfo.3',
        reason: 'retry: fixed the dependency',
        actor: 'alice',
        retryOfReleaseId: 'shop.podinfo.2',
      },
    });
    await expect(s.engine.retryRelease('shop.podinfo.3', alice)).rejects.toMatchObject({
      code: 'REFUSED',
    });
  });

  it('ignores re-delivered inputs and records operator actions with their actor', async () => {
    const s = await system();
    await s.engine.applySpec(spec(), alice);
    await s.fleet.heartbeats();
    await s.fleet.deploy(workload, 'v1');
    await finished(s, 'shop.podinfo.1');
    faulty.delete('v4');
    await s.engine
      .operatorAction({ releaseId: 'shop.podinfo.1', action: 'OPERATOR_ACTION_PAUSE' }, alice)
      .then(
        () => expect.fail('a finished release cannot be paused'),
        (error) => expect(error).toMatchObject({ code: 'REFUSED' }),
      );
    await s.fleet.deploy(workload, 'v4');
    await expect.poll(() => s.engine.release('shop.podinfo.2')).toBeDefined();
    await s.engine.operatorAction(
      { releaseId: 'shop.podinfo.2', action: 'OPERATOR_ACTION_PAUSE', reason: 'lunch' },
      alice,
    );
    const actor = s.engine.release('shop.podinfo.2');
    const version = actor?.version;
    const seen = {
      observationId: 'eu-1:dup:1',
      cluster: 'eu-1',
      observedAt: new Date().toISOString(),
      revisionSeen: { workload, revision: { id: 'v4' } },
    };
    await s.engine.ingestObservation(seen);
    const after = actor?.version;
    await s.engine.ingestObservation(seen);
    expect(actor?.version).toBe(after);
    expect(after).toBeGreaterThan(version ?? 0n);
    const stream = await s.store.readStream(releaseStreamId('shop.podinfo.2'));
    expect(stream.find((e) => e.type === 'OperatorActionRecorded')).toMatchObject({
      metadata: { actor: 'alice' },
      data: { actor: 'alice', action: 'OPERATOR_ACTION_PAUSE', reason: 'lunch' },
    });
    await expect(
      s.engine.operatorAction({ releaseId: 'shop.nope.1', action: 'OPERATOR_ACTION_PAUSE' }, alice),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(
      s.engine.operatorAction(
        { releaseId: 'shop.podinfo.2', action: 'OPERATOR_ACTION_PAUSE', cluster: 'mars-1' },
        alice,
      ),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('resumes a release after a restart from the log alone, and finishes it', async () => {
    const store = await openPGliteEventStore();
    const first = await system(store);
    await first.engine.applySpec(spec(), alice);
    await first.fleet.heartbeats();
    await first.fleet.deploy(workload, 'v1');
    await finished(first, 'shop.podinfo.1');
    await first.fleet.deploy(workload, 'v5');
    // Stop mid-release: some of eu-1's canary has happened.
    await expect
      .poll(() => first.engine.release('shop.podinfo.2')?.state.canaries['eu-1']?.phase, {
        timeout: 10_000,
        interval: 20,
      })
      .toBe('CANARY_PHASE_PROGRESSING');
    await first.stop();
    running.splice(running.indexOf(first), 1);
    const before = await store.readStream(releaseStreamId('shop.podinfo.2'));

    const second = await system(store, first.fleet);
    const resumed = second.engine.release('shop.podinfo.2');
    expect(resumed?.version).toBe(BigInt(before.length));
    const events = await finished(second, 'shop.podinfo.2');
    expect(events.find((e) => e.type === 'ReleaseFinished')?.data).toMatchObject({
      outcome: 'RELEASE_OUTCOME_SUCCEEDED',
    });
    for (const c of ['eu-1', 'eu-2', 'us-1'])
      expect(first.fleet.primaryRevision(c, workload)).toBe('v5');
    expect(replay(events as never).ok).toBe(true);
    await store.close();
  });

  it('holds promotion at a manual gate until an operator opens it', async () => {
    const s = await system();
    const gated = spec(`    webhooks:
      - { name: approval, type: confirm-promotion, url: "aviary-gate:approve" }
`);
    await s.engine.applySpec(gated, alice);
    await s.fleet.heartbeats();
    await s.fleet.deploy(workload, 'v1');
    await finished(s, 'shop.podinfo.1');
    await s.fleet.deploy(workload, 'v6');
    const phase = () => s.engine.release('shop.podinfo.2')?.state.canaries['eu-1']?.phase;
    await expect
      .poll(phase, { timeout: 20_000, interval: 50 })
      .toBe('CANARY_PHASE_WAITING_PROMOTION');
    // Closed gates stay closed: two more intervals and eu-1 still waits.
    await new Promise((r) => setTimeout(r, 2500));
    expect(phase()).toBe('CANARY_PHASE_WAITING_PROMOTION');
    expect(s.fleet.primaryRevision('eu-1', workload)).toBe('v1');
    await s.engine.setGate(
      { namespace: 'shop', name: 'podinfo' },
      'approve',
      true,
      alice,
      'CAB ok',
    );
    const events = await finished(s, 'shop.podinfo.2');
    expect(events.find((e) => e.type === 'ReleaseFinished')?.data).toMatchObject({
      outcome: 'RELEASE_OUTCOME_SUCCEEDED',
    });
    expect(s.fleet.primaryRevision('eu-1', workload)).toBe('v6');
    const results = events.filter((e) => e.type === 'WebhookResultRecorded');
    expect(results.map((e) => (e.data as { outcome?: string }).outcome)).toContain(
      'WEBHOOK_OUTCOME_FAILED',
    );
    expect(results.at(-1)?.data).toMatchObject({ outcome: 'WEBHOOK_OUTCOME_PASSED' });
    const app = await s.store.readStream(
      applicationStreamId({ namespace: 'shop', name: 'podinfo' }),
    );
    expect(app.find((e) => e.type === 'GateChanged')).toMatchObject({
      data: { gate: 'approve', open: true, actor: 'alice', reason: 'CAB ok' },
    });
    expect(replay(events as never).ok).toBe(true);
  });

  it('loads a release from its snapshot and the tail to the state the whole stream gives', async () => {
    const log = await openEventLog({ pgPoolSize: 1, dataDir: 'memory://' }, logger);
    try {
      const snapshots = databaseSnapshots(log.projections as never);
      const s = await system(log.store, undefined, { snapshots, snapshotEvery: 25 });
      await s.engine.applySpec(spec(), alice);
      await s.fleet.heartbeats();
      await s.fleet.deploy(workload, 'v1');
      await finished(s, 'shop.podinfo.1');
      await s.fleet.deploy(workload, 'v2');
      await finished(s, 'shop.podinfo.2');
      await s.engine.release('shop.podinfo.2')?.snapshotSettled();
      await s.stop();
      running.splice(running.indexOf(s), 1);

      const deps = { store: log.store, namespace };
      const whole = await ReleaseActor.load(deps, 'shop.podinfo.2');
      const saved = await snapshots.load('release-shop.podinfo.2');
      expect(saved?.version).toBeGreaterThanOrEqual(25n);
      const fromSnapshot = await ReleaseActor.load({ ...deps, snapshots }, 'shop.podinfo.2');
      expect(fromSnapshot?.version).toBe(whole?.version);
      expect(fromSnapshot?.state).toEqual(whole?.state);

      // An input recorded before the snapshot, delivered again: recognised, nothing appended.
      const history = await log.store.readStream('release-shop.podinfo.2');
      const early = history.find(
        (e) =>
          e.type === 'ObservationRecorded' &&
          e.streamVersion < (saved?.version ?? 0n) &&
          e.id.includes('/obs/'),
      );
      if (early === undefined) throw new Error('no observation before the snapshot');
      const observation = (early.data as { observation: never }).observation;
      const handled = await fromSnapshot?.handle(
        { type: 'Observe', data: { observation } },
        early.id,
        {},
      );
      expect(handled?.appended).toBe(false);
      expect(await log.store.streamVersion('release-shop.podinfo.2')).toBe(whole?.version);
    } finally {
      await log.close();
    }
  });

  it('a newer revision supersedes the running release: stopped cleanly, the new one walks the fleet', async () => {
    const s = await system();
    await s.engine.applySpec(spec(), alice);
    await s.fleet.heartbeats();
    await s.fleet.deploy(workload, 'v1');
    await finished(s, 'shop.podinfo.1');
    await s.fleet.deploy(workload, 'v7');
    await expect
      .poll(() => s.engine.release('shop.podinfo.2')?.state.canaries['eu-1']?.phase, {
        timeout: 10_000,
        interval: 20,
      })
      .toBe('CANARY_PHASE_PROGRESSING');
    await s.fleet.deploy(workload, 'v8');
    const old = await finished(s, 'shop.podinfo.2');
    expect(old.filter((e) => e.type === 'SupersessionRecorded').map((e) => e.data)).toEqual([
      { releaseId: 'shop.podinfo.3', revision: { id: 'v8' } },
    ]);
    expect(old.at(-1)).toEqual({
      type: 'ReleaseFinished',
      data: {
        outcome: 'RELEASE_OUTCOME_SUPERSEDED',
        reason: 'superseded by release shop.podinfo.3 (revision v8)',
        supersededByReleaseId: 'shop.podinfo.3',
      },
    });
    expect(old.some((e) => e.type === 'CanaryPromoted')).toBe(false);
    expect(replay(old as never).ok).toBe(true);
    const events = await finished(s, 'shop.podinfo.3');
    expect(events.find((e) => e.type === 'ReleaseStarted')?.data).toMatchObject({
      supersededReleaseId: 'shop.podinfo.2',
      revision: { id: 'v8' },
    });
    expect(events.find((e) => e.type === 'ReleaseFinished')?.data).toMatchObject({
      outcome: 'RELEASE_OUTCOME_SUCCEEDED',
    });
    for (const c of ['eu-1', 'eu-2', 'us-1'])
      expect(s.fleet.primaryRevision(c, workload)).toBe('v8');
    expect(replay(events as never).ok).toBe(true);
  });

  it('halt-and-revert puts promoted clusters back on the previous revision before the release ends', async () => {
    const s = await system();
    await s.engine.applySpec(
      spec().replace('failurePolicy: halt', 'failurePolicy: halt-and-revert'),
      alice,
    );
    await s.fleet.heartbeats();
    await s.fleet.deploy(workload, 'v1');
    await finished(s, 'shop.podinfo.1');
    faulty.add('us-1/v9');
    await s.fleet.deploy(workload, 'v9');
    const events = await finished(s, 'shop.podinfo.2');
    expect(events.find((e) => e.type === 'ReleaseFinished')?.data).toMatchObject({
      outcome: 'RELEASE_OUTCOME_FAILED',
    });
    const halted = events.find((e) => e.type === 'FleetHalted')?.data as {
      clustersToRevert?: string[];
    };
    expect(halted.clustersToRevert).toContain('eu-1');
    const reverted = events
      .filter((e) => e.type === 'ClusterReverted')
      .map((e) => e.data as { cluster?: string; revisionId?: string });
    expect(reverted.map((r) => r.cluster).sort()).toEqual([...(halted.clustersToRevert ?? [])]);
    expect(reverted.every((r) => r.revisionId === 'v1')).toBe(true);
    // Every cluster runs v1 on its primary again; the revert went through the outbox to the agent.
    for (const c of ['eu-1', 'eu-2', 'us-1'])
      expect(s.fleet.primaryRevision(c, workload)).toBe('v1');
    expect(s.fleet.applied.get('eu-1')).toContain('shop.podinfo.2:eu-1:revert-primary');
    const finishedAt = events.findIndex((e) => e.type === 'ReleaseFinished');
    expect(events.findIndex((e) => e.type === 'ClusterReverted')).toBeLessThan(finishedAt);
    expect(replay(events as never).ok).toBe(true);
    faulty.delete('us-1/v9');
  });

  it('a cluster registering mid-release joins the wave whose selector matches it', async () => {
    const s = await system();
    await s.engine.applySpec(
      spec().replace(
        '{ name: rest, clusters: [eu-2, us-1], maxParallel: all, bake: 0s }',
        '{ name: rest, selector: { matchLabels: { region: eu } }, maxParallel: all, bake: 0s }',
      ),
      alice,
    );
    await s.fleet.heartbeats();
    await s.fleet.deploy(workload, 'v1');
    await finished(s, 'shop.podinfo.1');
    await s.fleet.deploy(workload, 'v10');
    await expect.poll(() => s.engine.release('shop.podinfo.2')).toBeDefined();
    // eu-3's agent starts now: its first heartbeat, then it reports the revision GitOps deployed.
    await s.engine.ingestObservation({
      observationId: 'eu-3:hb:1',
      cluster: 'eu-3',
      observedAt: new Date().toISOString(),
      heartbeat: { labels: { region: 'eu' }, agentVersion: 'simulated', leaseMs: 300_000 },
    });
    await s.fleet.deploy(workload, 'v10', ['eu-3']);
    const events = await finished(s, 'shop.podinfo.2');
    expect(events.find((e) => e.type === 'ClusterJoined')?.data).toMatchObject({
      cluster: 'eu-3',
      waveIndex: 1,
    });
    expect(events.find((e) => e.type === 'ReleaseFinished')?.data).toMatchObject({
      outcome: 'RELEASE_OUTCOME_SUCCEEDED',
    });
    expect(s.fleet.primaryRevision('eu-3', workload)).toBe('v10');
    expect(s.engine.release('shop.podinfo.2')?.state.canaries['eu-3']).toBeDefined();
    expect(replay(events as never).ok).toBe(true);
  });

  it('refuses a malformed spec with every problem, and keeps an unchanged one unchanged', async () => {
    const s = await system();
    await expect(s.engine.applySpec('kind: Rollout\nspec: {}', alice)).rejects.toMatchObject({
      code: 'VALIDATION',
    });
    expect((await s.engine.applySpec(spec(), alice)).changed).toBe(true);
    expect((await s.engine.applySpec(spec(), alice)).changed).toBe(false);
  });
});

describe('tick grid', () => {
  it('puts ticks just after multiples of the interval, always later than now', async () => {
    const { nextGridTick, TICK_GRID_OFFSET_MS } = await import('./engine.ts');
    expect(nextGridTick(10_000, 2000)).toBe(10_000 + TICK_GRID_OFFSET_MS);
    expect(nextGridTick(10_000 + TICK_GRID_OFFSET_MS, 2000)).toBe(12_000 + TICK_GRID_OFFSET_MS);
    expect(nextGridTick(11_999, 2000)).toBe(12_000 + TICK_GRID_OFFSET_MS);
    for (const at of [0, 1, 4, 5, 6, 1999, 2004, 2005, 123_456]) {
      const next = nextGridTick(at, 2000);
      expect(next).toBeGreaterThan(at);
      expect(next - at).toBeLessThanOrEqual(2000);
      expect((next - TICK_GRID_OFFSET_MS) % 2000).toBe(0);
    }
  });
});
