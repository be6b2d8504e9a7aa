import type { KubeSim } from '@aviary/kube-sim';
import { CommandOutcome, type CommandResult, CommandResultSchema } from '@aviary/proto';
import { create } from '@bufbuild/protobuf';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CommandResultStore,
  createConfigMapResultStore,
  RESULTS_KEY,
  resultsConfigMapName,
} from './command-results.ts';
import { KubeApiError, type KubeClient } from './kube/kube-client.ts';
import { MANAGED_BY_LABEL } from './ownership.ts';
import { simulatedCluster } from './testing.ts';

const signal = new AbortController().signal;
const NAMESPACE = 'aviary-system';
const NAME = resultsConfigMapName('eu-1');

let sim: KubeSim;
let kube: KubeClient;

beforeEach(async () => {
  ({ sim, kube } = await simulatedCluster());
});

afterEach(async () => {
  await sim.close();
});

const result = (id: string, message = '') =>
  create(CommandResultSchema, {
    commandId: id,
    outcome: CommandOutcome.SUCCEEDED,
    message,
    observedGeneration: 3n,
    workload: { namespace: 'default', name: 'podinfo' },
  });

function store(options: { maxResults?: number; maxBytes?: number; k?: KubeClient } = {}) {
  return createConfigMapResultStore({
    kube: options.k ?? kube,
    cluster: 'eu-1',
    ...(options.maxResults !== undefined ? { maxResults: options.maxResults } : {}),
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
  });
}

async function storedIds(): Promise<string[]> {
  const cm = await kube.get('ConfigMap', NAMESPACE, NAME, signal);
  return (cm?.data?.[RESULTS_KEY] ?? '')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { commandId: string }).commandId);
}

async function put(s: CommandResultStore, r: CommandResult) {
  await s.load(signal);
  await s.put(r, signal);
}

describe('stored command results', () => {
  it('live in an owned ConfigMap of the agent’s namespace, created with the namespace, and outlive the store', async () => {
    const first = store();
    await first.load(signal);
    expect(first.size()).toBe(0);
    await put(first, result('cmd-a'));
    await put(first, result('cmd-b', 'second'));

    const cm = await kube.get('ConfigMap', NAMESPACE, NAME, signal);
    expect(cm?.metadata?.labels).toMatchObject({
      [MANAGED_BY_LABEL]: 'aviary',
      'aviary.dev/cluster': 'eu-1',
    });
    // One compact proto-JSON result per line, oldest first.
    expect(cm?.data?.[RESULTS_KEY]).toBe(
      '{"commandId":"cmd-a","outcome":"COMMAND_OUTCOME_SUCCEEDED","observedGeneration":"3","workload":{"namespace":"default","name":"podinfo"}}\n' +
        '{"commandId":"cmd-b","outcome":"COMMAND_OUTCOME_SUCCEEDED","message":"second","observedGeneration":"3","workload":{"namespace":"default","name":"podinfo"}}\n',
    );

    const restarted = store();
    await restarted.load(signal);
    expect(restarted.get('cmd-a')).toEqual(result('cmd-a'));
    expect(restarted.get('cmd-b')).toEqual(result('cmd-b', 'second'));
    expect(restarted.get('cmd-c')).toBeUndefined();
  });

  it('keeps the newest results within the count and byte bounds', async () => {
    const s = store({ maxResults: 3 });
    for (const id of ['r1', 'r2', 'r3', 'r4', 'r5']) await put(s, result(id));
    expect(await storedIds()).toEqual(['r3', 'r4', 'r5']);
    expect(s.get('r2')).toBeUndefined();

    // ~200 bytes a line, 1000 bytes: four lines fit.
    const small = store({ maxBytes: 1000 });
    for (const id of ['b1', 'b2', 'b3', 'b4', 'b5', 'b6'])
      await put(small, result(id, 'x'.repeat(80)));
    const ids = await storedIds();
    expect(ids.at(-1)).toBe('b6');
    const cm = await kube.get('ConfigMap', NAMESPACE, NAME, signal);
    expect(new TextEncoder().encode(cm?.data?.[RESULTS_KEY]).length).toBeLessThanOrEqual(1000);
    expect(ids.length).toBeGreaterThan(1);
    expect(ids.length).toBeLessThan(6);
  });

  it('writes with the resourceVersion it read and merges what another writer stored on a conflict', async () => {
    const a = store();
    const b = store();
    await a.load(signal);
    await b.load(signal);
    await put(a, result('from-a-1'));
    // b has not seen a's write: its create meets AlreadyExists, it reads, merges, writes.
    await put(b, result('from-b-1'));
    // a's resourceVersion is stale now: a conflict, read again, merge.
    await put(a, result('from-a-2'));
    expect(await storedIds()).toEqual(['from-a-1', 'from-b-1', 'from-a-2']);
    const fresh = store();
    await fresh.load(signal);
    expect(fresh.size()).toBe(3);
  });

  it('skips unreadable lines and refuses a ConfigMap it does not own', async () => {
    await kube.create('Namespace', '', { metadata: { name: NAMESPACE } }, signal);
    await kube.create(
      'ConfigMap',
      NAMESPACE,
      {
        metadata: { name: NAME, labels: { [MANAGED_BY_LABEL]: 'aviary' } },
        data: { [RESULTS_KEY]: `not json\n${JSON.stringify({ commandId: 'ok' })}\n{}\n` },
      },
      signal,
    );
    const s = store();
    await s.load(signal);
    expect(s.size()).toBe(1);
    expect(s.get('ok')?.commandId).toBe('ok');

    await kube.replace(
      'ConfigMap',
      NAMESPACE,
      { metadata: { name: NAME, namespace: NAMESPACE }, data: {} },
      signal,
    );
    await expect(store().load(signal)).rejects.toThrow(/not managed by Aviary/);
  });

  it('says so when its namespace is missing and may not be created', async () => {
    const forbidden: KubeClient = {
      ...kube,
      create: (kind, namespace, object, s) => {
        if (kind === 'Namespace') {
          return Promise.reject(
            new KubeApiError('Namespace', NAMESPACE, 403, 'Forbidden', 'namespaces is forbidden'),
          );
        }
        return kube.create(kind, namespace, object, s);
      },
    };
    const s = store({ k: forbidden });
    await s.load(signal);
    await expect(s.put(result('x'), signal)).rejects.toThrow(
      /namespace aviary-system does not exist and the agent may not create it/,
    );
    expect(s.get('x')).toBeUndefined();
  });
});
