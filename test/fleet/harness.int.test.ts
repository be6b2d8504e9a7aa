/**
 * The end-to-end fleet proven on everything but the orchestrator: the real kube-sim, Prometheus,
 * NATS JetStream, three cluster-agent processes and the analyzer process, driven by hand over
 * NATS exactly as the orchestrator will drive them.
 *
 * One fleet for the whole file (start-up is the slow part, about 6 s, most of it Prometheus
 * waiting to scrape new targets). The tests run in order as one story: eu-1's canary, set up by
 * hand in the second test, is the healthy canary the third test analyses.
 */
import { existsSync } from 'node:fs';
import {
  BuiltinMetric,
  groupedBuiltinQuery,
  MetricRouter,
} from '@aviary/analyzer/src/metrics/builtin.ts';
import { connectNats, streamNames } from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import {
  type AgentCommandJson,
  AnalysisOutcome,
  type AnalysisRequestJson,
  CommandOutcome,
  DeploymentRole,
  RouterKind,
} from '@aviary/proto';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEnv } from '../env.ts';
import type { FleetBus, ReceivedObservation } from './bus.ts';
import { type Fleet, isPidAlive, startFleet, TARGET } from './harness.ts';

/** The analysis interval (and window) used here: see README.md for what is reliable. */
const INTERVAL_MS = 3000;

let fleet: Fleet;
let bus: FleetBus;

beforeAll(async () => {
  fleet = await startFleet({ database: true });
  bus = await fleet.bus();
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
});

const workload = {
  namespace: TARGET.namespace,
  name: TARGET.name,
  kind: 'WORKLOAD_KIND_DEPLOYMENT',
} as const;

let sequence = 0;
/** An agent command for the test's release, as the orchestrator would build it. */
function command(
  cluster: string,
  action: Omit<AgentCommandJson, 'commandId' | 'cluster' | 'releaseId' | 'workload'>,
): AgentCommandJson {
  sequence += 1;
  return {
    commandId: `release-1:${cluster}:${sequence}`,
    cluster,
    releaseId: 'release-1',
    workload,
    issuedAt: new Date().toISOString(),
    ...action,
  };
}

const initialize = (cluster: string) =>
  command(cluster, {
    initializeTarget: {
      router: 'ROUTER_KIND_ISTIO',
      service: { port: TARGET.port, targetPort: TARGET.targetPort },
    },
  });
const scaleCanary = (cluster: string) => command(cluster, { scaleCanary: {} });
const setRoutes = (cluster: string, primary: number, canary: number) =>
  command(cluster, {
    setRoutes: {
      router: 'ROUTER_KIND_ISTIO',
      serviceName: TARGET.service,
      routes: { primaryWeightPercent: primary, canaryWeightPercent: canary },
    },
  });

const heartbeatOf = (o: ReceivedObservation) =>
  o.observation.kind.case === 'heartbeat' ? o.observation.kind.value : undefined;
const revisionSeenOf = (o: ReceivedObservation) =>
  o.observation.kind.case === 'revisionSeen' ? o.observation.kind.value : undefined;

/** The revision the agent of `cluster` reports next after `afterSeq`, other than `not`. */
async function nextRevision(cluster: string, afterSeq: number, not?: string): Promise<string> {
  const seen = await bus.waitForObservation(`a new revision from ${cluster}`, (o) => {
    const revision = revisionSeenOf(o)?.revision?.id;
    return o.cluster === cluster && o.seq > afterSeq && revision !== undefined && revision !== not;
  });
  return revisionSeenOf(seen)?.revision?.id ?? '';
}

const lastSeq = () => bus.observations().at(-1)?.seq ?? 0;

/** The last revision id `cluster`'s agent reported for the target, if any. */
const latestRevision = (cluster: string): string | undefined =>
  bus
    .observations()
    .filter((o) => o.cluster === cluster)
    .map((o) => revisionSeenOf(o)?.revision?.id)
    .filter((id) => id !== undefined)
    .at(-1);

/**
 * Given a cluster at its initial version, makes `version` its canary at 50 % the way the
 * orchestrator will: bootstrap, the new version (GitOps), scale the canary up, wait until it is
 * ready, route half the traffic to it. Returns the canary's revision id.
 */
async function canaryAtHalf(cluster: string, version: string): Promise<string> {
  const initialized = await bus.runCommand(initialize(cluster));
  expect(initialized).toMatchObject({ outcome: CommandOutcome.SUCCEEDED });
  const before = lastSeq();
  const initial = latestRevision(cluster);
  await fleet.setVersion(cluster, version);
  const revision = await nextRevision(cluster, before, initial);

  expect(await bus.runCommand(scaleCanary(cluster))).toMatchObject({
    outcome: CommandOutcome.SUCCEEDED,
  });
  await bus.waitForObservation(`${cluster}'s canary ready at ${version}`, (o) => {
    const r =
      o.observation.kind.case === 'workloadReadiness' ? o.observation.kind.value : undefined;
    return (
      o.cluster === cluster &&
      r?.role === DeploymentRole.CANARY &&
      r.revisionId === revision &&
      r.replicas === 2 &&
      r.updatedReplicas === 2 &&
      r.readyReplicas === 2
    );
  });
  expect(await bus.runCommand(setRoutes(cluster, 50, 50))).toMatchObject({
    outcome: CommandOutcome.SUCCEEDED,
  });
  return revision;
}

/** A success-rate request over `[endMs - INTERVAL_MS, endMs)` for `cluster`'s canary. */
function successRate(requestId: string, cluster: string, endMs: number): AnalysisRequestJson {
  return {
    requestId,
    releaseId: 'release-1',
    cluster,
    workload,
    checkName: 'request-success-rate',
    thresholdRange: { min: 99 },
    intervalMs: INTERVAL_MS,
    windowStart: new Date(endMs - INTERVAL_MS).toISOString(),
    windowEnd: new Date(endMs).toISOString(),
    priority: 'ANALYSIS_PRIORITY_ROLLBACK_RELEVANT',
    router: 'ROUTER_KIND_ISTIO',
  };
}

describe('the fleet harness, everything but the orchestrator', () => {
  it('registers every agent: heartbeats with its labels, and the revision of shop/podinfo', async () => {
    for (const cluster of fleet.clusters) {
      const heartbeat = heartbeatOf(
        await bus.waitForObservation(`a heartbeat from ${cluster.name}`, (o) => {
          return o.cluster === cluster.name && heartbeatOf(o) !== undefined;
        }),
      );
      expect(heartbeat).toMatchObject({
        labels: { region: cluster.name.startsWith('eu') ? 'eu' : 'us' },
        agentVersion: '0.1.0',
        leaseMs: 60_000,
      });
    }
    const revisions = await Promise.all(
      fleet.clusters.map(async (cluster) =>
        revisionSeenOf(
          await bus.waitForObservation(`the revision seen in ${cluster.name}`, (o) => {
            return o.cluster === cluster.name && revisionSeenOf(o) !== undefined;
          }),
        ),
      ),
    );
    for (const seen of revisions) {
      expect(seen?.workload).toMatchObject({ namespace: 'shop', name: 'podinfo' });
      expect(seen?.revision?.configChecksums).toHaveProperty(['configmap/podinfo-config']);
    }
    // The same template and config in every cluster: one revision id fleet-wide.
    expect(new Set(revisions.map((r) => r?.revision?.id)).size).toBe(1);
    // Heartbeats keep coming (1 s apart).
    const count = () => bus.observations().filter((o) => heartbeatOf(o) !== undefined).length;
    const now = count();
    await expect.poll(count, { timeout: 3000 }).toBeGreaterThanOrEqual(now + 3);
  });

  it('drives eu-1 by hand over NATS: bootstrap, v2, scaled canary, 50/50, and per-track metrics in Prometheus', async () => {
    const revision = await canaryAtHalf('eu-1', 'v2');

    expect(await fleet.weights('eu-1')).toEqual({
      primary: 50,
      canary: 50,
      mirrorPercent: 0,
      matches: false,
    });
    expect(await fleet.primaryImage('eu-1')).toBe(fleet.image('v1'));
    expect(await fleet.targetImage('eu-1')).toBe(fleet.image('v2'));
    // Only eu-1 was touched.
    expect(await fleet.targetImage('eu-2')).toBe(fleet.image('v1'));
    expect(await fleet.weights('eu-2')).toBeUndefined();
    const routes = bus
      .observations()
      .find((o) => o.cluster === 'eu-1' && o.observation.kind.case === 'routesApplied');
    expect(routes?.observation.kind.value).toMatchObject({
      router: RouterKind.ISTIO,
      routes: { primaryWeightPercent: 50, canaryWeightPercent: 50 },
    });
    expect(revision).not.toBe('');

    // The agent's own account of what it applied, in order.
    await expect
      .poll(() => fleet.agentCommandLog('eu-1').map((e) => [e.action, e.outcome, e.duplicate]))
      .toEqual([
        ['initializeTarget', 'SUCCEEDED', false],
        ['scaleCanary', 'SUCCEEDED', false],
        ['setRoutes', 'SUCCEEDED', false],
      ]);
    expect(fleet.agentCommandLog('eu-2')).toEqual([]);

    // Traffic reaches both tracks, and Prometheus answers the analyzer's grouped query for them.
    const grouped = groupedBuiltinQuery({
      router: MetricRouter.Istio,
      metric: BuiltinMetric.RequestSuccessRate,
      interval: '3s',
      canaries: [{ cluster: 'eu-1', namespace: TARGET.namespace, target: TARGET.name }],
      clusterLabel: 'cluster',
    });
    await expect
      .poll(
        async () =>
          (await fleet.prometheus.query(grouped.query))
            .map((s) => [s.metric.cluster, s.metric.workload, s.metric.track, s.value[1]])
            .sort(),
        { timeout: 10_000, interval: 250 },
      )
      .toEqual([
        ['eu-1', 'podinfo', 'canary', '100'],
        ['eu-1', 'podinfo', 'primary', '100'],
      ]);
    // Half the requests go to the canary (once its new series spans the whole rate window).
    const canaryShare = async () => {
      const rates = await fleet.prometheus.query(
        'sum by (destination_workload) (rate(istio_requests_total{cluster="eu-1", destination_workload_namespace="shop"}[3s]))',
      );
      const rate = (name: string) =>
        Number(rates.find((s) => s.metric.destination_workload === name)?.value[1]);
      return rate('podinfo') / (rate('podinfo') + rate('podinfo-primary'));
    };
    await expect.poll(canaryShare, { timeout: 10_000, interval: 500 }).toBeGreaterThan(0.35);
    expect(await canaryShare()).toBeLessThan(0.65);
  });

  it('judges real Prometheus data through the analyzer: the healthy canary SUCCESSFUL, a 50 %-error canary FAILED', async () => {
    // A behaviour is part of the version's template: v2 already runs, so it cannot change.
    await expect(fleet.setBehaviour('v2', { errorRate: 0.5 })).rejects.toThrow(/already runs/);
    await fleet.setBehaviour('v3', { errorRate: 0.5 });
    await canaryAtHalf('eu-2', 'v3');

    // The next window that starts after both canaries carry traffic, aligned to the interval.
    const startMs = Math.ceil((Date.now() + 1) / INTERVAL_MS) * INTERVAL_MS;
    const endMs = startMs + INTERVAL_MS;
    await bus.requestAnalysis(successRate('analysis-eu-1', 'eu-1', endMs));
    await bus.requestAnalysis(successRate('analysis-eu-2', 'eu-2', endMs));
    const [healthy, faulty] = await Promise.all([
      bus.verdict('analysis-eu-1', 20_000),
      bus.verdict('analysis-eu-2', 20_000),
    ]);

    expect(healthy).toMatchObject({
      cluster: 'eu-1',
      checkName: 'request-success-rate',
      outcome: AnalysisOutcome.SUCCESSFUL,
      evidence: { value: 100, thresholdRange: { min: 99 } },
    });
    expect(faulty).toMatchObject({ cluster: 'eu-2', outcome: AnalysisOutcome.FAILED });
    expect(faulty.evidence?.value).toBeGreaterThan(30);
    expect(faulty.evidence?.value).toBeLessThan(70);
    for (const verdict of [healthy, faulty]) {
      const evidence = verdict.evidence;
      expect(evidence?.windowStart && timestampMs(evidence.windowStart)).toBe(startMs);
      expect(evidence?.windowEnd && timestampMs(evidence.windowEnd)).toBe(endMs);
    }
    // Both canaries were folded into one grouped query over both clusters.
    expect(healthy.evidence?.query).toBe(faulty.evidence?.query);
    expect(healthy.evidence?.query).toContain('cluster=~"eu-1|eu-2"');
  });

  it('keeps an agent’s commands across a crash: a command sent while it is down is applied after restart', async () => {
    const agent = fleet.agent('us-1');
    const firstPid = agent.pid;
    expect(await agent.kill('SIGKILL')).toMatchObject({ signal: 'SIGKILL' });
    expect(agent.running).toBe(false);

    const init = initialize('us-1');
    await bus.sendCommand(init);
    const beforeRestart = lastSeq();
    await agent.restart();
    expect(agent.pid).not.toBe(firstPid);

    expect(await bus.commandResult(init.commandId ?? '')).toMatchObject({
      outcome: CommandOutcome.SUCCEEDED,
    });
    expect(await fleet.weights('us-1')).toMatchObject({ primary: 100, canary: 0 });
    await expect
      .poll(() => fleet.agentCommandLog('us-1'))
      .toEqual([
        expect.objectContaining({
          commandId: init.commandId,
          action: 'initializeTarget',
          outcome: 'SUCCEEDED',
          incarnation: 1,
        }),
      ]);
    // The restarted agent says so: a heartbeat with a new start time.
    const restarted = await bus.waitForObservation(
      'a heartbeat from the restarted agent',
      (o) => o.cluster === 'us-1' && o.seq > beforeRestart && heartbeatOf(o) !== undefined,
    );
    const startedAt = heartbeatOf(restarted)?.agentStartedAt;
    expect(startedAt && timestampMs(startedAt)).toBeGreaterThan(Date.now() - 30_000);
  });

  it('stop() leaves no process, stream, database or file behind', async () => {
    const processes = fleet.processes();
    expect(processes.map((p) => p.name).sort()).toEqual([
      'agent eu-1',
      'agent eu-2',
      'agent us-1',
      'agent us-1',
      'analyzer',
      'kube-sim',
      'prometheus',
    ]);
    const database = new URL(fleet.orchestratorEnv().AVIARY_PG_URL ?? '').pathname.slice(1);
    const kubeconfig = fleet.kubeconfig('eu-1');
    expect(existsSync(kubeconfig)).toBe(true);

    await fleet.stop();
    await fleet.stop(); // idempotent

    for (const p of processes)
      expect({ name: p.name, alive: isPidAlive(p.pid) }).toEqual({
        name: p.name,
        alive: false,
      });
    // Every service shut down cleanly on SIGTERM; only the agent killed above did not.
    expect(fleet.processes().map((p) => [p.name, p.running, p.exit])).toEqual([
      ['kube-sim', false, { code: 0, signal: null }],
      ['prometheus', false, { code: 0, signal: null }],
      ['agent eu-1', false, { code: 0, signal: null }],
      ['agent eu-2', false, { code: 0, signal: null }],
      ['agent us-1', false, { code: null, signal: 'SIGKILL' }],
      ['agent us-1', false, { code: 0, signal: null }],
      ['analyzer', false, { code: 0, signal: null }],
    ]);
    expect(existsSync(kubeconfig)).toBe(false);

    const nats = await connectNats({
      servers: testEnv.natsUrl,
      name: 'fleet-test-check',
      logger: createLogger({ service: 'test', level: 'silent' }),
    });
    try {
      const jsm = await nats.jetstreamManager();
      const names = (await jsm.streams.names().next()) as string[];
      for (const stream of Object.values(streamNames(fleet.namespace))) {
        expect(names).not.toContain(stream);
      }
    } finally {
      await nats.close();
    }
    const admin = new pg.Client({ connectionString: testEnv.postgresUrl });
    await admin.connect();
    try {
      const { rows } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [
        database,
      ]);
      expect(rows).toEqual([]);
    } finally {
      await admin.end();
    }
  });
});
