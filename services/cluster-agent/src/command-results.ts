/**
 * The results of applied commands, kept in the cluster so that they outlive the agent: a command
 * re-delivered after a restart (JetStream redelivers what was not acked; the orchestrator sends
 * outstanding commands again) is answered from its stored result instead of being applied again.
 *
 * Where: one ConfigMap per agent, `aviary-agent-<cluster>-results`, in the agent's own namespace
 * (`AVIARY_AGENT_NAMESPACE`, default `aviary-system`), created with the namespace if missing
 * (when the agent may create namespaces; the RBAC manifest creates the namespace instead). One
 * object per agent rather than one per target namespace: it is read once at start, it never
 * writes into application namespaces (which GitOps tools may prune), and commands are applied one
 * at a time, so a single object sees no write contention.
 *
 * What: the key `results.jsonl`, one compact proto-JSON `CommandResult` per line, oldest first.
 * At most `maxResults` (500) results and `maxBytes` (768 KiB, under the 1 MiB object limit) are
 * kept; the oldest go first. Redeliveries concern recent commands, so 500 is ample. A line that
 * cannot be parsed is skipped (and logged), never fatal.
 *
 * How: `put` replaces the ConfigMap with the `resourceVersion` it last saw; on a conflict (another
 * writer, e.g. an old agent pod still stopping) it reads the object again, merges, and retries,
 * as client-go's `RetryOnConflict`. The handler stores a result before it is published and acked.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import { type CommandResult, CommandResultSchema } from '@aviary/proto';
import { fromJson, type JsonValue, toJson } from '@bufbuild/protobuf';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { KubeApiError, type KubeClient } from './kube/kube-client.ts';
import { DEFAULT_UPDATE_ATTEMPTS } from './kube/update.ts';
import { isOwned, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from './ownership.ts';

export const DEFAULT_AGENT_NAMESPACE = 'aviary-system';
export const DEFAULT_MAX_RESULTS = 500;
/** Well under the API server's 1 MiB per object, leaving room for metadata. */
export const DEFAULT_MAX_RESULT_BYTES = 768 * 1024;
export const RESULTS_KEY = 'results.jsonl';
export const CLUSTER_LABEL = 'aviary.dev/cluster';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';

export const resultsConfigMapName = (cluster: string) => `aviary-agent-${cluster}-results`;

export interface CommandResultStore {
  /** Reads the stored results; once, and again only after a failed read. */
  load(signal: AbortSignal): Promise<void>;
  /** The stored result of a command id (after `load`). */
  get(commandId: string): CommandResult | undefined;
  /** Stores a result durably; resolves once the API server has it. */
  put(result: CommandResult, signal: AbortSignal): Promise<void>;
  /** How many results are held. */
  size(): number;
}

export interface StoreLogger {
  warn(fields: object, msg: string): void;
}

export interface ConfigMapResultStoreOptions {
  readonly kube: KubeClient;
  readonly cluster: string;
  /** Default `aviary-system`. */
  readonly namespace?: string;
  readonly maxResults?: number;
  readonly maxBytes?: number;
  readonly logger?: StoreLogger;
}

/** A failure to read or write the stored results (the handler answers `FAILED`, retriable). */
export class ResultStoreError extends AviaryError {
  override name = 'ResultStoreError';
}

interface Entry {
  readonly result: CommandResult;
  readonly line: string;
}

const encoder = new TextEncoder();

export function createConfigMapResultStore(
  options: ConfigMapResultStoreOptions,
): CommandResultStore {
  const { kube, cluster } = options;
  const namespace = options.namespace ?? DEFAULT_AGENT_NAMESPACE;
  const name = resultsConfigMapName(cluster);
  const maxResults = options.maxResults ?? DEFAULT_MAX_RESULTS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_RESULT_BYTES;
  const where = `ConfigMap ${namespace}/${name}`;
  /** Insertion order = age: the first entry is the oldest. */
  let entries = new Map<string, Entry>();
  let loaded = false;
  /** The ConfigMap as last read or written; `undefined`: it does not exist. */
  let current: V1ConfigMap | undefined;

  function parse(text: string | undefined): Map<string, Entry> {
    const parsed = new Map<string, Entry>();
    let skipped = 0;
    for (const line of (text ?? '').split('\n')) {
      if (line.trim() === '') continue;
      try {
        const result = fromJson(CommandResultSchema, JSON.parse(line) as JsonValue, {
          ignoreUnknownFields: true,
        });
        if (result.commandId === '') throw new Error('no commandId');
        parsed.delete(result.commandId);
        parsed.set(result.commandId, { result, line });
      } catch {
        skipped += 1;
      }
    }
    if (skipped > 0) options.logger?.warn({ where, skipped }, 'skipped unreadable stored results');
    return parsed;
  }

  /** The newest results that fit both bounds (the newest one always). */
  function bounded(all: Map<string, Entry>): Map<string, Entry> {
    const kept: [string, Entry][] = [];
    let bytes = 0;
    for (const item of [...all].reverse()) {
      const size = encoder.encode(item[1].line).length + 1;
      if (kept.length > 0 && (kept.length >= maxResults || bytes + size > maxBytes)) break;
      kept.push(item);
      bytes += size;
    }
    return new Map(kept.reverse());
  }

  const serialize = (all: Map<string, Entry>) =>
    [...all.values()].map((e) => `${e.line}\n`).join('');

  /** The ConfigMap holding `all`; metadata (labels, annotations, resourceVersion) kept. */
  function desired(all: Map<string, Entry>): V1ConfigMap {
    return {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        ...current?.metadata,
        name,
        namespace,
        labels: {
          ...current?.metadata?.labels,
          [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
          [COMPONENT_LABEL]: 'cluster-agent',
          [CLUSTER_LABEL]: cluster,
        },
      },
      data: { [RESULTS_KEY]: serialize(all) },
    };
  }

  async function read(signal: AbortSignal): Promise<V1ConfigMap | undefined> {
    const cm = await kube.get('ConfigMap', namespace, name, signal);
    if (cm !== undefined && !isOwned(cm)) {
      throw new ResultStoreError(
        ErrorCode.Refused,
        `${where} exists and is not managed by Aviary (no ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE} label): remove it or set AVIARY_AGENT_NAMESPACE`,
      );
    }
    return cm;
  }

  function adopt(cm: V1ConfigMap | undefined) {
    current = cm;
    entries = parse(cm?.data?.[RESULTS_KEY]);
  }

  async function createNamespace(signal: AbortSignal) {
    try {
      await kube.create(
        'Namespace',
        '',
        {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
        },
        signal,
      );
    } catch (error) {
      if (error instanceof KubeApiError && (error.status === 403 || error.status === 401)) {
        throw new ResultStoreError(
          ErrorCode.Unavailable,
          `namespace ${namespace} does not exist and the agent may not create it: create it (infra/kubernetes/cluster-agent-rbac.yaml does) or set AVIARY_AGENT_NAMESPACE to an existing namespace`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  async function load(signal: AbortSignal) {
    if (loaded) return;
    adopt(await read(signal));
    loaded = true;
  }

  return {
    load,
    get(commandId) {
      return entries.get(commandId)?.result;
    },
    size: () => entries.size,
    async put(result, signal) {
      await load(signal);
      const line = JSON.stringify(toJson(CommandResultSchema, result));
      const entry: Entry = { result, line };
      for (let attempt = 1; attempt <= DEFAULT_UPDATE_ATTEMPTS + 1; attempt++) {
        const next = new Map(entries);
        next.delete(result.commandId);
        next.set(result.commandId, entry);
        const all = bounded(next);
        if (current === undefined) {
          let created: Awaited<ReturnType<KubeClient['create']>>;
          try {
            created = await kube.create('ConfigMap', namespace, desired(all), signal);
          } catch (error) {
            // 404 on create: the namespace does not exist.
            if (error instanceof KubeApiError && error.status === 404 && attempt === 1) {
              await createNamespace(signal);
              continue;
            }
            throw error;
          }
          if (created.outcome === 'exists') {
            adopt(await read(signal));
            continue;
          }
          current = created.object as V1ConfigMap;
          entries = all;
          return;
        }
        const replaced = await kube.replace('ConfigMap', namespace, desired(all), signal);
        if (replaced.outcome === 'replaced') {
          current = replaced.object;
          entries = all;
          return;
        }
        // Conflict (someone else wrote) or deleted meanwhile: read again, merge, retry.
        adopt(await read(signal));
      }
      throw new ResultStoreError(
        ErrorCode.Concurrency,
        `${where}: still conflicting after ${DEFAULT_UPDATE_ATTEMPTS} attempts`,
      );
    },
  };
}
