/**
 * `GET /api/v1/releases/{id}/replay`, `POST /api/v1/releases/{id}/what-if` and
 * `GET /api/v1/whoami` over HTTP, on an embedded log holding a recorded release (a decider
 * scenario's history, as the engine would have appended it) and a tampered copy of it.
 */
import { readFileSync } from 'node:fs';
import { parseScenario, runScenario } from '@aviary/decider';
import { type EventStore, openPGliteEventStore } from '@aviary/event-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseStreamId } from '../engine/ids.ts';
import { type ApiServer, createApiServer } from './server.ts';
import { FakeOperations, FakeReadModel, recordingLogger } from './test-fakes.ts';

const VIEWER = 'viewer-token-0123456789';
const scenario = parseScenario(
  readFileSync(
    new URL('../../../../packages/decider/scenarios/threshold-rollback.yaml', import.meta.url),
    'utf8',
  ),
);

let store: EventStore;
let server: ApiServer;
let base: string;
let tamperedAt: number;

beforeAll(async () => {
  store = await openPGliteEventStore();
  const { history } = runScenario(scenario);
  await store.append(
    releaseStreamId('test.podinfo.1'),
    history.map((e) => ({ type: e.type, data: e.data })),
    { expectedVersion: 'no_stream' },
  );
  // The same history with one decision changed: a canary weight nobody asked for.
  tamperedAt = history.findIndex((e) => e.type === 'CanaryWeightRequested');
  const tampered = history.map((e, i) => {
    if (i !== tamperedAt) return { type: e.type, data: e.data };
    const data = structuredClone(e.data) as {
      command: {
        setRoutes: { routes: { canaryWeightPercent: number; primaryWeightPercent: number } };
      };
    };
    data.command.setRoutes.routes.canaryWeightPercent = 42;
    data.command.setRoutes.routes.primaryWeightPercent = 58;
    return { type: e.type, data };
  });
  await store.append(releaseStreamId('test.podinfo.2'), tampered, { expectedVersion: 'no_stream' });
  server = createApiServer({
    operations: new FakeOperations(),
    readModel: new FakeReadModel(),
    store,
    tokens: [{ name: 'vera', role: 'viewer', token: VIEWER }],
    logger: recordingLogger(),
  });
  base = (await server.listen(0)).url;
});
afterAll(async () => {
  await server.close();
  await store.close();
});

async function call(method: 'GET' | 'POST', path: string, json?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${VIEWER}`,
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: the answers' shapes are what the assertions check
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

describe('replay and what-if routes', () => {
  it('replays a recorded release: ok, with the number of events', async () => {
    const { status, body } = await call('GET', '/api/v1/releases/test.podinfo.1/replay');
    expect(status).toBe(200);
    expect(body).toEqual({ releaseId: 'test.podinfo.1', events: expect.any(Number), ok: true });
    expect(body.events).toBeGreaterThan(10);
  });

  it('names the first diverging event of a tampered history', async () => {
    const { status, body } = await call('GET', '/api/v1/releases/test.podinfo.2/replay');
    expect(status).toBe(200);
    expect(body.ok).toBe(false);
    expect(body.divergence).toMatchObject({
      index: tamperedAt,
      streamVersion: tamperedAt + 1,
      message: expect.stringContaining(`determinism error at event ${tamperedAt}`),
      recorded: { type: 'CanaryWeightRequested', streamVersion: tamperedAt + 1 },
      rederived: { type: 'CanaryWeightRequested' },
    });
    expect(JSON.stringify(body.divergence.recorded.data)).toContain('42');
  });

  it('re-runs a release with another analysis block and reports the divergence', async () => {
    const { status, body } = await call('POST', '/api/v1/releases/test.podinfo.1/what-if', {
      analysis: { threshold: 5 },
    });
    expect(status).toBe(200);
    expect(body.change).toBe('threshold 5');
    const eu1 = body.clusters.find((c: { cluster: string }) => c.cluster === 'eu-1');
    expect(eu1.recorded.outcome).toMatchObject({ kind: 'rolled-back' });
    expect(eu1.divergence).toBeDefined();
    expect(body.lines.join('\n')).toContain('threshold 5');
    // Flagger's `interval` replaces the recorded intervalMs.
    const interval = await call('POST', '/api/v1/releases/test.podinfo.1/what-if', {
      analysis: { interval: '2m' },
    });
    expect(interval.status).toBe(200);
    expect(interval.body.change).toBe('intervalMs 120000');
  });

  it('rejects an invalid analysis block with its issues, and an unknown release with 404', async () => {
    const invalid = await call('POST', '/api/v1/releases/test.podinfo.1/what-if', {
      analysis: { threshold: -1 },
    });
    expect(invalid.status).toBe(400);
    expect(JSON.stringify(invalid.body.error.issues)).toContain('spec.analysis.threshold');
    const empty = await call('POST', '/api/v1/releases/test.podinfo.1/what-if', { analysis: {} });
    expect(empty.status).toBe(400);
    expect(empty.body.error.issues[0].path).toBe('analysis');
    expect((await call('GET', '/api/v1/releases/test.podinfo.9/replay')).status).toBe(404);
    expect(
      (
        await call('POST', '/api/v1/releases/test.podinfo.9/what-if', {
          analysis: { threshold: 2 },
        })
      ).status,
    ).toBe(404);
  });

  it('tells a token who it is', async () => {
    expect(await call('GET', '/api/v1/whoami')).toEqual({
      status: 200,
      body: { name: 'vera', role: 'viewer' },
    });
  });
});
