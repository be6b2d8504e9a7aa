/**
 * End to end, the real system: PostgreSQL, NATS JetStream, Prometheus, the analyzer, three
 * simulated clusters in two regions with their agents and live traffic, and the orchestrator
 * driven through its HTTP API.
 *
 * One fleet, releases in turn: the bootstrap of v1; a good v2 walking wave `canary` (eu-1), its
 * bake, then wave `rest` (eu-2 + us-1); a faulty v3 stopped in eu-1 with a notification; a retry
 * of v3 after fixing the analysis; operator actions mid-release (pause / resume, promote now,
 * abort). Every release's timeline is read back from the log and replays to the same decisions.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { replay } from '@aviary/decider';
import { type EventStore, openPostgresEventStore } from '@aviary/event-store';
import type { SpawnedService } from '@aviary/platform/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../prometheus.ts';
import { type Fleet, startFleet } from './harness.ts';
import { FLEET_OPTIONS, INTERVAL_MS, rolloutSpec } from './rollout-spec.ts';

const ORCHESTRATOR = fileURLToPath(
  new URL('../../services/orchestrator/src/main.ts', import.meta.url),
);
const TOKEN = 'e2e-admin-token-0123456789abcdef';

interface ReleaseView {
  releaseId: string;
  status: string;
  outcome?: string;
  reason?: string;
  revisionId: string;
}
interface CanaryView {
  cluster: string;
  phase: string;
  canaryWeightPercent: number;
}

let fleet: Fleet;
let orchestrator: SpawnedService;
let api: string;
let store: EventStore;
let receiver: Server;
const notifications: Record<string, unknown>[] = [];

async function call<T>(method: string, path: string, body?: string, type?: string): Promise<T> {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': type ?? 'application/json' }),
    },
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

const release = (id: string) =>
  call<ReleaseView>('GET', `/api/v1/releases/${id}`).catch(() => undefined);
const canaries = async (id: string) =>
  (await call<{ canaries: CanaryView[] }>('GET', `/api/v1/releases/${id}/canaries`)).canaries;
const canary = async (id: string, cluster: string) =>
  (await canaries(id).catch(() => [])).find((c) => c.cluster === cluster);
const action = (id: string, body: Record<string, string>) =>
  call('POST', `/api/v1/releases/${id}/actions`, JSON.stringify(body));

async function finished(id: string, timeout = 120_000): Promise<ReleaseView> {
  await expect
    .poll(async () => (await release(id))?.status, { timeout, interval: 250 })
    .toBe('finished');
  return (await release(id)) as ReleaseView;
}

/** The release's stream replays to the same decisions (and returns its event types). */
async function replays(id: string): Promise<string[]> {
  const history = await store.readStream(`release-${id}`);
  const result = replay(history.map((e) => ({ type: e.type, data: e.data })) as never);
  if (!result.ok) throw result.error;
  return history.map((e) => e.type);
}

/** Clusters given canary traffic by a release, from the agents' own command logs. */
function clustersWithCanaryTraffic(releaseId: string): string[] {
  return fleet.clusters
    .map((c) => c.name)
    .filter((name) =>
      fleet
        .agentCommandLog(name)
        .some(
          (e) =>
            e.command?.releaseId === releaseId &&
            (e.command.setRoutes?.routes?.canaryWeightPercent ?? 0) > 0,
        ),
    );
}

function firstApplied(cluster: string, releaseId: string, what: 'promoteCanary' | 'setRoutes') {
  return fleet
    .agentCommandLog(cluster)
    .find(
      (e) =>
        e.command?.releaseId === releaseId &&
        e.command[what] !== undefined &&
        (what === 'promoteCanary' || (e.command.setRoutes?.routes?.canaryWeightPercent ?? 0) > 0),
    )?.atMs;
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      notifications.push(JSON.parse(body) as Record<string, unknown>);
      res.end('ok');
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  fleet = await startFleet(FLEET_OPTIONS);
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  orchestrator = fleet.spawn('orchestrator', ORCHESTRATOR, {
    ...fleet.orchestratorEnv(),
    AVIARY_HTTP_PORT: String(port),
    AVIARY_API_TOKENS: `ci:admin:${TOKEN}`,
    AVIARY_ALERT_PROVIDERS: JSON.stringify([
      { name: 'ops', namespace: 'shop', type: 'generic', address: hook },
    ]),
  });
  await orchestrator.waitForLine((l) => l.msg === 'http api listening', 30_000);
  store = await openPostgresEventStore({
    connectionString: fleet.orchestratorEnv().AVIARY_PG_URL ?? '',
  });
}, 60_000);

afterAll(async () => {
  await store?.close();
  await fleet?.stop();
  receiver?.close();
});

describe('a release across the fleet, end to end', { timeout: 180_000 }, () => {
  it('bootstraps the fleet with the first revision once the spec is applied', async () => {
    const applied = await call<{ changed: boolean }>(
      'POST',
      '/api/v1/applications',
      rolloutSpec(),
      'application/yaml',
    );
    expect(applied.changed).toBe(true);
    const first = await finished('shop.podinfo.1');
    expect(first.outcome, first.reason).toBe('RELEASE_OUTCOME_SUCCEEDED');
    for (const c of fleet.clusters) {
      expect(await fleet.primaryImage(c.name)).toBe(fleet.image('v1'));
      expect(await fleet.weights(c.name)).toMatchObject({ primary: 100, canary: 0 });
    }
  });

  it('walks a good v2 through wave canary, its bake, then wave rest, promoted everywhere', async () => {
    await fleet.setVersion('all', 'v2');
    const v2 = await finished('shop.podinfo.2');
    expect(v2.outcome, v2.reason).toBe('RELEASE_OUTCOME_SUCCEEDED');
    for (const c of fleet.clusters) {
      expect(await fleet.primaryImage(c.name)).toBe(fleet.image('v2'));
      expect(await fleet.weights(c.name)).toMatchObject({ primary: 100, canary: 0 });
    }
    // eu-1 was promoted, and baked, before eu-2 or us-1 got any canary traffic.
    const promotedEu1 = firstApplied('eu-1', 'shop.podinfo.2', 'promoteCanary') ?? Infinity;
    for (const c of ['eu-2', 'us-1']) {
      expect(firstApplied(c, 'shop.podinfo.2', 'setRoutes')).toBeGreaterThan(promotedEu1 + 2500);
    }
    const types = await replays('shop.podinfo.2');
    expect(types.filter((t) => t === 'WaveStarted')).toHaveLength(2);
    expect(types).toContain('AnalysisVerdictRecorded');
  });

  it('stops a faulty v3 in eu-1: rolled back there, no traffic elsewhere, release failed, notified', async () => {
    await fleet.setBehaviour('v3', { errorRate: 0.5 });
    await fleet.setVersion('all', 'v3');
    const v3 = await finished('shop.podinfo.3');
    expect(v3.outcome, v3.reason).toBe('RELEASE_OUTCOME_FAILED');
    expect(clustersWithCanaryTraffic('shop.podinfo.3')).toEqual(['eu-1']);
    for (const c of fleet.clusters) {
      expect(await fleet.primaryImage(c.name)).toBe(fleet.image('v2'));
      expect(await fleet.weights(c.name)).toMatchObject({ primary: 100, canary: 0 });
    }
    expect((await canary('shop.podinfo.3', 'eu-1'))?.phase).toBe('CANARY_PHASE_FAILED');
    await expect
      .poll(() =>
        notifications.some(
          (n) => n.release === 'shop.podinfo.3' && n.severity === 'error' && n.cluster === 'eu-1',
        ),
      )
      .toBe(true);
    await expect
      .poll(() =>
        notifications.some((n) => n.release === 'shop.podinfo.3' && n.event === 'ReleaseFinished'),
      )
      .toBe(true);
    const types = await replays('shop.podinfo.3');
    expect(types).toContain('CanaryRolledBack');
    expect(types).toContain('FleetHalted');
  });

  it('retries v3 after the analysis is fixed, as a new release that succeeds', async () => {
    // The operator decides 50% errors are acceptable for this service (a fix of the analysis).
    await call('POST', '/api/v1/applications', rolloutSpec(20), 'application/yaml');
    const retried = await call<{ releaseId: string }>(
      'POST',
      '/api/v1/releases/shop.podinfo.3/retry',
      '{}',
    );
    expect(retried.releaseId).toBe('shop.podinfo.4');
    const v3 = await finished('shop.podinfo.4');
    expect(v3.outcome, v3.reason).toBe('RELEASE_OUTCOME_SUCCEEDED');
    for (const c of fleet.clusters) {
      expect(await fleet.primaryImage(c.name)).toBe(fleet.image('v3'));
    }
    await replays('shop.podinfo.4');
    await call('POST', '/api/v1/applications', rolloutSpec(), 'application/yaml');
  });

  it('pauses and resumes, promotes at once on request, and aborts', async () => {
    await fleet.setVersion('all', 'v4');
    await expect
      .poll(async () => (await canary('shop.podinfo.5', 'eu-1'))?.canaryWeightPercent, {
        timeout: 60_000,
        interval: 200,
      })
      .toBe(50);
    await action('shop.podinfo.5', { action: 'pause', reason: 'look first' });
    await expect.poll(async () => (await release('shop.podinfo.5'))?.status).toBe('paused');
    // Paused: two intervals later eu-1 is still at 50%, not promoted.
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS + 500));
    expect(await canary('shop.podinfo.5', 'eu-1')).toMatchObject({
      phase: 'CANARY_PHASE_PROGRESSING',
      canaryWeightPercent: 50,
    });
    await action('shop.podinfo.5', { action: 'resume' });
    await action('shop.podinfo.5', { action: 'promote', cluster: 'eu-1', reason: 'looks good' });
    const v4 = await finished('shop.podinfo.5');
    expect(v4.outcome, v4.reason).toBe('RELEASE_OUTCOME_SUCCEEDED');
    const history = await store.readStream('release-shop.podinfo.5');
    expect(
      history.filter((e) => e.type === 'OperatorActionRecorded').map((e) => e.metadata.actor),
    ).toEqual(['ci', 'ci', 'ci']);
    await replays('shop.podinfo.5');

    await fleet.setVersion('all', 'v5');
    await expect
      .poll(async () => (await canary('shop.podinfo.6', 'eu-1'))?.canaryWeightPercent, {
        timeout: 60_000,
        interval: 200,
      })
      .toBe(50);
    await action('shop.podinfo.6', { action: 'abort', reason: 'wrong build' });
    const v5 = await finished('shop.podinfo.6');
    expect(v5.outcome, v5.reason).toBe('RELEASE_OUTCOME_ABORTED');
    await expect.poll(() => fleet.weights('eu-1')).toMatchObject({ primary: 100, canary: 0 });
    for (const c of fleet.clusters) {
      expect(await fleet.primaryImage(c.name)).toBe(fleet.image('v4'));
    }
    expect(clustersWithCanaryTraffic('shop.podinfo.6')).toEqual(['eu-1']);
    await replays('shop.podinfo.6');
  });
});
