/**
 * End to end: the orchestrator killed with SIGKILL at a random point mid-release, on the real
 * PostgreSQL, NATS JetStream, Prometheus, analyzer, agents and simulated clusters.
 *
 * 1. One orchestrator, killed mid-release, started again: the release completes with the outcome
 *    it would have had.
 * 2. Two orchestrators at once (one leads, one stands by); the leader is killed mid-release: the
 *    standby takes over and completes it.
 *
 * After each, the agents' command logs show every command the log decided applied exactly once:
 * none applied twice (re-deliveries are answered from the agent's stored result), none skipped.
 */
import { fileURLToPath } from 'node:url';
import { replay } from '@aviary/decider';
import { type EventStore, openPostgresEventStore } from '@aviary/event-store';
import type { SpawnedService } from '@aviary/platform/testing';
import type { AgentCommandJson } from '@aviary/proto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, startFleet } from './harness.ts';
import { FLEET_OPTIONS, rolloutSpec } from './rollout-spec.ts';

const ORCHESTRATOR = fileURLToPath(
  new URL('../../services/orchestrator/src/main.ts', import.meta.url),
);
const COMMAND_EVENTS = new Set([
  'ClusterCanaryInitializationRequested',
  'CanaryScaleRequested',
  'CanaryWeightRequested',
  'CanaryPromotionRequested',
  'CanaryScaleToZeroRequested',
]);

const TOKEN = 'e2e-failover-token-0123456789ab';

let fleet: Fleet;
let store: EventStore;
let started = 0;

const spawned: SpawnedService[] = [];
function orchestrator(): SpawnedService {
  started += 1;
  const o = fleet.spawn(`orchestrator-${started}`, ORCHESTRATOR, {
    ...fleet.orchestratorEnv(),
    AVIARY_HTTP_PORT: '0',
    AVIARY_API_TOKENS: `ci:admin:${TOKEN}`,
    AVIARY_LEADER_RETRY_MS: '200',
  });
  spawned.push(o);
  return o;
}

const leads = (o: SpawnedService) => o.lines.some((l) => l.msg === 'leading');

async function outcome(releaseId: string, timeout = 150_000): Promise<string | undefined> {
  const stream = `release-${releaseId}`;
  const done = async () =>
    (await store.readStream(stream)).some((e) => e.type === 'ReleaseFinished');
  const deadline = Date.now() + timeout;
  while (!(await done())) {
    if (Date.now() > deadline) {
      // Say where it stood: the last decisions, and how many checks were held.
      const events = await store.readStream(stream);
      const held = events.filter((e) => e.type === 'CanaryCheckHeld').length;
      const last = events
        .filter((e) => e.type !== 'TickRecorded' && e.type !== 'ObservationRecorded')
        .slice(-12)
        .map((e) => `${e.type} ${JSON.stringify(e.data).slice(0, 120)}`);
      throw new Error(
        `${releaseId} did not finish within ${timeout} ms (${events.length} events, ${held} checks held); last decisions:\n${last.join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const events = await store.readStream(stream);
  const finished = events.find((e) => e.type === 'ReleaseFinished');
  return (finished?.data as { outcome?: string } | undefined)?.outcome;
}

/** Waits until the release has decided something in eu-1, then a random 0–8 s more. */
async function midRelease(releaseId: string): Promise<number> {
  await expect
    .poll(async () => (await store.readStream(`release-${releaseId}`)).length, {
      timeout: 60_000,
      interval: 100,
    })
    .toBeGreaterThan(10);
  const delayMs = Math.floor(Math.random() * 8000);
  await new Promise((r) => setTimeout(r, delayMs));
  return delayMs;
}

/** Every command the release decided was applied once by its cluster's agent, none twice. */
async function appliedExactlyOnce(releaseId: string) {
  const decided = new Map<string, string>();
  for (const e of await store.readStream(`release-${releaseId}`)) {
    if (!COMMAND_EVENTS.has(e.type)) continue;
    const command = (e.data as { command: AgentCommandJson }).command;
    decided.set(command.commandId ?? '', command.cluster ?? '');
  }
  expect(decided.size).toBeGreaterThan(0);
  for (const [commandId, cluster] of decided) {
    await expect
      .poll(
        () =>
          fleet
            .agentCommandLog(cluster)
            .filter((e) => e.commandId === commandId && !e.duplicate && e.outcome === 'SUCCEEDED')
            .length,
        { timeout: 10_000, message: `${commandId} applied once in ${cluster}` },
      )
      .toBe(1);
  }
}

async function replays(releaseId: string) {
  const history = await store.readStream(`release-${releaseId}`);
  const result = replay(history.map((e) => ({ type: e.type, data: e.data })) as never);
  if (!result.ok) throw result.error;
}

beforeAll(async () => {
  fleet = await startFleet(FLEET_OPTIONS);
  store = await openPostgresEventStore({
    connectionString: fleet.orchestratorEnv().AVIARY_PG_URL ?? '',
  });
}, 60_000);

afterEach(async () => {
  // A test that failed midway leaves its orchestrators: the next one starts from a clean slate.
  for (const o of spawned) await o.stop('SIGKILL').catch(() => undefined);
});

afterAll(async () => {
  // AVIARY_E2E_DEBUG=1: the orchestrators' notable log lines, for a failure's post-mortem.
  if (process.env.AVIARY_E2E_DEBUG) {
    spawned.forEach((o, i) => {
      for (const l of o.lines) {
        if (Number(l.level) >= 40 || /release|recovered|leading/.test(String(l.msg))) {
          process.stderr.write(`orchestrator ${i + 1}: ${JSON.stringify(l)}\n`);
        }
      }
    });
  }
  await store?.close();
  await fleet?.stop();
});

describe('an orchestrator killed mid-release', { timeout: 240_000 }, () => {
  it('restarts from the log and completes the release, no command applied twice or skipped', async () => {
    const first = orchestrator();
    await first.waitForLine((l) => String(l.msg).startsWith('orchestrator ready'), 30_000);
    const api = spawnApiClient(first);
    await api.apply(rolloutSpec());
    expect(await outcome('shop.podinfo.1')).toBe('RELEASE_OUTCOME_SUCCEEDED');

    await fleet.setVersion('all', 'v2');
    const delayMs = await midRelease('shop.podinfo.2');
    await first.stop('SIGKILL');
    const restarted = orchestrator();
    await restarted.waitForLine((l) => l.msg === 'recovered from the log', 30_000);
    expect(await outcome('shop.podinfo.2'), `killed ${delayMs} ms into eu-1`).toBe(
      'RELEASE_OUTCOME_SUCCEEDED',
    );
    for (const c of fleet.clusters) {
      expect(await fleet.primaryImage(c.name)).toBe(fleet.image('v2'));
    }
    await appliedExactlyOnce('shop.podinfo.2');
    await replays('shop.podinfo.2');
    await restarted.stop('SIGTERM');
  });

  it('with two orchestrators running, the standby takes over from the killed leader', async () => {
    const a = orchestrator();
    await a.waitForLine((l) => l.msg === 'leading', 30_000);
    const b = orchestrator();
    await b.waitForLine((l) => l.msg === 'another orchestrator leads; standing by', 30_000);

    await fleet.setVersion('all', 'v3');
    const delayMs = await midRelease('shop.podinfo.3');
    expect(leads(b)).toBe(false);
    await a.stop('SIGKILL');
    await b.waitForLine((l) => l.msg === 'leading', 30_000);
    expect(await outcome('shop.podinfo.3'), `killed ${delayMs} ms into eu-1`).toBe(
      'RELEASE_OUTCOME_SUCCEEDED',
    );
    for (const c of fleet.clusters) {
      expect(await fleet.primaryImage(c.name)).toBe(fleet.image('v3'));
    }
    await appliedExactlyOnce('shop.podinfo.3');
    await replays('shop.podinfo.3');
  });
});

/** Applies a spec through the orchestrator's own API (port from its log). */
function spawnApiClient(o: SpawnedService) {
  return {
    async apply(spec: string) {
      const line = await o.waitForLine((l) => l.msg === 'http api listening', 30_000);
      const response = await fetch(`${String(line.url)}/api/v1/applications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/yaml' },
        body: spec,
      });
      if (!response.ok) throw new Error(`apply: ${response.status} ${await response.text()}`);
    },
  };
}
