import { AviaryError, ErrorCode } from '@aviary/core';
import { type EventStore, type GlobalPosition, openPGliteEventStore } from '@aviary/event-store';
import type { ReleaseStartedJson, WebhookCallJson, WebhookResultRecordedJson } from '@aviary/proto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApplicationRef, WebhookCaller } from '../ports.ts';
import { HttpWebhookCaller } from './caller.ts';
import { WebhookDispatcher } from './dispatcher.ts';
import { reply, startTestServer, type TestServer } from './test-server.ts';

const RELEASE_STARTED: ReleaseStartedJson = {
  releaseId: 'r1',
  rollout: { namespace: 'test', name: 'podinfo' },
  target: { namespace: 'test', name: 'podinfo', kind: 'WORKLOAD_KIND_DEPLOYMENT' },
  revision: { id: 'rev-new' },
  spec: { apiVersion: 'aviary.dev/v1alpha1', kind: 'Rollout' },
  specHash: 'f00d',
  waves: [{ name: 'canary', clusters: ['eu-1'], maxParallel: 1 }],
  failurePolicy: 'FAILURE_POLICY_HALT',
};

function webhookCall(url: string, seq: number, name = 'load-test'): WebhookCallJson {
  return {
    requestId: `r1:eu-1:${seq}:webhook:${name}`,
    cluster: 'eu-1',
    name,
    type: 'WEBHOOK_TYPE_CONFIRM_ROLLOUT',
    url,
    timeoutMs: 2_000,
    payload: {
      name: 'podinfo',
      namespace: 'test',
      phase: 'CANARY_PHASE_INITIALIZED',
      checksum: 'rev-new',
    },
  };
}

function must(position: GlobalPosition | undefined): GlobalPosition {
  if (position === undefined) throw new Error('the append wrote nothing');
  return position;
}

interface Recorded {
  readonly releaseId: string;
  readonly result: WebhookResultRecordedJson;
}

describe('WebhookDispatcher on a PGlite event log', () => {
  let store: EventStore;
  let server: TestServer;
  let dispatcher: WebhookDispatcher | undefined;

  beforeEach(async () => {
    store = await openPGliteEventStore();
    server = await startTestServer(reply(200, 'Approved'));
  });
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    await server.close();
    await store.close();
  });

  const start = (
    record: (releaseId: string, result: WebhookResultRecordedJson) => Promise<void>,
    caller: WebhookCaller = new HttpWebhookCaller({ gateOpen: (_app, gate) => gate === 'go' }),
  ) => {
    dispatcher = new WebhookDispatcher({
      store,
      caller,
      recordWebhookResult: record,
      pollIntervalMs: 20,
    });
    return dispatcher.start();
  };

  it('calls each requested webhook and records its result for the release', async () => {
    await store.append('release-r1', [{ type: 'ReleaseStarted', data: RELEASE_STARTED }], {
      expectedVersion: 'no_stream',
    });
    const appended = await store.append(
      'release-r1',
      [
        { type: 'WebhookRequested', data: { call: webhookCall(`${server.origin}/gate/check`, 2) } },
        { type: 'WebhookRequested', data: { call: webhookCall('aviary-gate:go', 3, 'approve') } },
      ],
      { expectedVersion: 1n },
    );
    const recorded: Recorded[] = [];
    const subscription = start(async (releaseId, result) => {
      recorded.push({ releaseId, result });
    });
    await subscription.waitFor(must(appended.position));

    expect(server.requests).toHaveLength(1);
    expect(JSON.parse(server.requests[0]?.body ?? '')).toEqual({
      name: 'podinfo',
      namespace: 'test',
      phase: 'Initialized',
      checksum: 'rev-new',
    });
    expect(recorded.map((r) => r.releaseId)).toEqual(['r1', 'r1']);
    const byName = Object.fromEntries(recorded.map((r) => [r.result.name, r.result]));
    expect(byName['load-test']).toMatchObject({
      requestId: 'r1:eu-1:2:webhook:load-test',
      cluster: 'eu-1',
      type: 'WEBHOOK_TYPE_CONFIRM_ROLLOUT',
      outcome: 'WEBHOOK_OUTCOME_PASSED',
      statusCode: 200,
      message: 'HTTP 200: Approved',
    });
    expect(byName.approve).toMatchObject({
      requestId: 'r1:eu-1:3:webhook:approve',
      outcome: 'WEBHOOK_OUTCOME_PASSED',
      message: 'gate go is open',
    });
    expect(await store.checkpoints.load('webhooks')).toEqual(appended.position);
  });

  it('reads the application from the stream when the batch does not hold ReleaseStarted', async () => {
    await store.append('release-r1', [{ type: 'ReleaseStarted', data: RELEASE_STARTED }], {
      expectedVersion: 'no_stream',
    });
    const first = await store.readAll();
    // The checkpoint is past ReleaseStarted: the next batch holds only the request.
    await store.checkpoints.store('webhooks', first.position);
    const appended = await store.append(
      'release-r1',
      [{ type: 'WebhookRequested', data: { call: webhookCall('aviary-gate:hold', 2, 'gate') } }],
      { expectedVersion: 1n },
    );
    const applications: ApplicationRef[] = [];
    const recorded: WebhookResultRecordedJson[] = [];
    const subscription = start(
      async (_releaseId, result) => {
        recorded.push(result);
      },
      {
        call: async (call, application) => {
          applications.push(application);
          return { requestId: call.requestId ?? '', outcome: 'WEBHOOK_OUTCOME_FAILED' };
        },
      },
    );
    await subscription.waitFor(must(appended.position));
    expect(applications).toEqual([{ namespace: 'test', name: 'podinfo' }]);
    expect(recorded).toEqual([
      { requestId: 'r1:eu-1:2:webhook:gate', outcome: 'WEBHOOK_OUTCOME_FAILED' },
    ]);
  });

  it('retries a failed record without calling the webhook again; skips a REFUSED one', async () => {
    await store.append('release-r1', [{ type: 'ReleaseStarted', data: RELEASE_STARTED }], {
      expectedVersion: 'no_stream',
    });
    const appended = await store.append(
      'release-r1',
      [
        { type: 'WebhookRequested', data: { call: webhookCall(server.origin, 2, 'flaky-record') } },
        { type: 'WebhookRequested', data: { call: webhookCall(server.origin, 3, 'refused') } },
      ],
      { expectedVersion: 1n },
    );
    const attempts: Record<string, number> = {};
    const recorded: string[] = [];
    const subscription = start(async (_releaseId, result) => {
      const name = result.name ?? '';
      attempts[name] = (attempts[name] ?? 0) + 1;
      if (name === 'refused') {
        throw new AviaryError(ErrorCode.Refused, 'release r1 has finished');
      }
      if (name === 'flaky-record' && attempts[name] === 1) {
        throw new AviaryError(ErrorCode.Unavailable, 'the log is unreachable');
      }
      recorded.push(name);
    });
    await subscription.waitFor(must(appended.position));
    expect(recorded).toEqual(['flaky-record']);
    expect(attempts).toEqual({ 'flaky-record': 2, refused: 1 });
    // Two webhooks, each called once, although the batch ran twice.
    expect(server.requests.map((r) => r.headers['x-aviary-request-id'])).toEqual([
      'r1:eu-1:2:webhook:flaky-record',
      'r1:eu-1:3:webhook:refused',
    ]);
  });

  it('runs the calls of a batch concurrently, bounded', async () => {
    await store.append('release-r1', [{ type: 'ReleaseStarted', data: RELEASE_STARTED }], {
      expectedVersion: 'no_stream',
    });
    const calls = Array.from({ length: 6 }, (_, i) => ({
      type: 'WebhookRequested',
      data: { call: webhookCall(server.origin, i + 2, `hook-${i}`) },
    }));
    const appended = await store.append('release-r1', calls, { expectedVersion: 1n });
    let running = 0;
    let peak = 0;
    const caller: WebhookCaller = {
      call: async (call) => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 30));
        running -= 1;
        return { requestId: call.requestId ?? '', outcome: 'WEBHOOK_OUTCOME_PASSED' };
      },
    };
    const recorded: string[] = [];
    dispatcher = new WebhookDispatcher({
      store,
      caller,
      recordWebhookResult: async (_id, result) => {
        recorded.push(result.requestId ?? '');
      },
      concurrency: 3,
      pollIntervalMs: 20,
    });
    await dispatcher.start().waitFor(must(appended.position));
    expect(peak).toBe(3);
    expect(recorded).toHaveLength(6);
  });
});
