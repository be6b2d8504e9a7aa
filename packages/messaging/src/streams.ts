import { AviaryError, ErrorCode, ValidationError } from '@aviary/core';
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { abortable, throwIfAborted, wrapNatsError } from './errors.ts';
import {
  DEFAULT_MESSAGING_NAMESPACE,
  type MessagingNamespace,
  subjectFilters,
} from './subjects.ts';

/**
 * Aviary's JetStream streams. All use file storage and JetStream's duplicate window, so that a
 * message re-published with the same `Nats-Msg-Id` (the outbox retrying after a crash) is stored
 * once:
 *
 * - `AVIARY_OBS`: agents' observations, kept for `observationMaxAgeMs`; read by the orchestrator.
 * - `AVIARY_CMD`: commands for agents, a work queue (a message is gone once its agent acked it),
 *   with a longer duplicate window, since a repeated command must never be applied twice.
 * - `AVIARY_ANALYSIS`: analysis requests and results.
 */

export const StreamKey = {
  Observations: 'observations',
  Commands: 'commands',
  Analysis: 'analysis',
} as const;
export type StreamKey = (typeof StreamKey)[keyof typeof StreamKey];

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

export const DEFAULT_DUPLICATE_WINDOW_MS = 2 * MINUTE_MS;
export const DEFAULT_COMMAND_DUPLICATE_WINDOW_MS = 10 * MINUTE_MS;
export const DEFAULT_OBSERVATION_MAX_AGE_MS = 7 * DAY_MS;
export const DEFAULT_COMMAND_MAX_AGE_MS = DAY_MS;
export const DEFAULT_ANALYSIS_MAX_AGE_MS = DAY_MS;

export interface StreamSettings {
  /** Where the streams and their subjects live; production `aviary` by default. */
  readonly namespace?: MessagingNamespace;
  /** Duplicate window of the observation and analysis streams. Default 2 min. */
  readonly duplicateWindowMs?: number;
  /** Duplicate window of the command stream. Default 10 min. */
  readonly commandDuplicateWindowMs?: number;
  /** Default 7 days. */
  readonly observationMaxAgeMs?: number;
  /** Default 1 day: a command older than that is stale. */
  readonly commandMaxAgeMs?: number;
  /** Default 1 day. */
  readonly analysisMaxAgeMs?: number;
  /** JetStream replicas of each stream: 1 on a single server, 3 in a JetStream cluster. */
  readonly replicas?: number;
}

/** The desired shape of one stream, in the units JetStream uses (durations in nanoseconds). */
export interface StreamDefinition {
  readonly key: StreamKey;
  readonly config: Readonly<
    Pick<
      StreamConfig,
      | 'name'
      | 'description'
      | 'subjects'
      | 'storage'
      | 'retention'
      | 'discard'
      | 'duplicate_window'
      | 'max_age'
      | 'num_replicas'
      | 'deny_delete'
      | 'deny_purge'
    >
  >;
}

/** Stream names in `namespace`: `AVIARY_OBS`, `AVIARY_CMD`, `AVIARY_ANALYSIS` in production. */
export function streamNames(
  namespace: MessagingNamespace = DEFAULT_MESSAGING_NAMESPACE,
): Readonly<Record<StreamKey, string>> {
  return {
    observations: `${namespace.streamPrefix}_OBS`,
    commands: `${namespace.streamPrefix}_CMD`,
    analysis: `${namespace.streamPrefix}_ANALYSIS`,
  };
}

/** The streams `ensureStreams` creates, as data (for docs, tests and `nats stream add`). */
export function streamDefinitions(settings: StreamSettings = {}): readonly StreamDefinition[] {
  const namespace = settings.namespace ?? DEFAULT_MESSAGING_NAMESPACE;
  const names = streamNames(namespace);
  const windowMs = settings.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  const commandWindowMs = settings.commandDuplicateWindowMs ?? DEFAULT_COMMAND_DUPLICATE_WINDOW_MS;
  const observationAgeMs = settings.observationMaxAgeMs ?? DEFAULT_OBSERVATION_MAX_AGE_MS;
  const commandAgeMs = settings.commandMaxAgeMs ?? DEFAULT_COMMAND_MAX_AGE_MS;
  const analysisAgeMs = settings.analysisMaxAgeMs ?? DEFAULT_ANALYSIS_MAX_AGE_MS;
  const replicas = settings.replicas ?? 1;
  validate([
    ['duplicateWindowMs', windowMs, Math.min(observationAgeMs, analysisAgeMs)],
    ['commandDuplicateWindowMs', commandWindowMs, commandAgeMs],
  ]);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    throw new ValidationError('invalid stream settings', [
      { path: 'replicas', message: 'must be an integer from 1 to 5' },
    ]);
  }
  const common = {
    storage: StorageType.File,
    num_replicas: replicas,
    deny_delete: true,
    deny_purge: false,
  } as const;
  return [
    {
      key: StreamKey.Observations,
      config: {
        ...common,
        name: names.observations,
        description: 'Aviary: observations published by cluster agents',
        subjects: [subjectFilters.observations(namespace)],
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        duplicate_window: nanos(windowMs),
        max_age: nanos(observationAgeMs),
      },
    },
    {
      key: StreamKey.Commands,
      config: {
        ...common,
        name: names.commands,
        description: 'Aviary: commands for cluster agents (work queue)',
        subjects: [subjectFilters.commands(namespace)],
        retention: RetentionPolicy.Workqueue,
        // A full stream refuses new commands instead of silently dropping unapplied ones.
        discard: DiscardPolicy.New,
        duplicate_window: nanos(commandWindowMs),
        max_age: nanos(commandAgeMs),
      },
    },
    {
      key: StreamKey.Analysis,
      config: {
        ...common,
        name: names.analysis,
        description: 'Aviary: analysis requests and verdicts',
        subjects: subjectFilters.analysis(namespace),
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        duplicate_window: nanos(windowMs),
        max_age: nanos(analysisAgeMs),
      },
    },
  ];
}

function validate(windows: readonly [string, number, number][]): void {
  const issues = [];
  for (const [path, windowMs, maxAgeMs] of windows) {
    if (!Number.isInteger(windowMs) || windowMs < 1000) {
      issues.push({ path, message: 'must be a whole number of milliseconds, at least 1000' });
    } else if (windowMs > maxAgeMs) {
      issues.push({ path, message: `must not exceed the stream's max age (${maxAgeMs} ms)` });
    }
  }
  if (issues.length > 0) throw new ValidationError('invalid stream settings', issues);
}

export const EnsureAction = {
  Created: 'created',
  Updated: 'updated',
  Unchanged: 'unchanged',
} as const;
export type EnsureAction = (typeof EnsureAction)[keyof typeof EnsureAction];

export interface EnsuredStream {
  readonly key: StreamKey;
  readonly name: string;
  readonly action: EnsureAction;
  /** The configuration fields that an update changed. */
  readonly changed: readonly string[];
}

/** The subset of a JetStream manager that `ensureStreams` uses. */
export type StreamManager = Pick<JetStreamManager, 'streams'>;

/**
 * Creates Aviary's streams, or updates them to the definitions; a stream that already matches is
 * left alone, so this is safe to run at every start of every service. Throws CONFIG when a stream
 * exists with a storage type or retention that cannot be changed in place (or its subjects overlap
 * another stream), UNAVAILABLE when JetStream cannot be reached, ABORTED when `signal` aborts.
 */
export async function ensureStreams(
  jsm: StreamManager,
  settings: StreamSettings & { readonly signal?: AbortSignal } = {},
): Promise<EnsuredStream[]> {
  const results: EnsuredStream[] = [];
  for (const definition of streamDefinitions(settings)) {
    throwIfAborted(settings.signal, 'ensuring streams');
    results.push(await ensureStream(jsm, definition));
  }
  return results;
}

async function ensureStream(
  jsm: StreamManager,
  definition: StreamDefinition,
): Promise<EnsuredStream> {
  const { key, config } = definition;
  const current = await currentConfig(jsm, config.name);
  if (current === undefined) {
    try {
      await jsm.streams.add({ ...config, subjects: [...config.subjects] });
    } catch (error) {
      throw wrapNatsError(error, `cannot create stream ${config.name}`, ErrorCode.Config);
    }
    return { key, name: config.name, action: EnsureAction.Created, changed: [] };
  }
  for (const field of ['storage', 'retention'] as const) {
    if (current[field] !== config[field]) {
      throw new AviaryError(
        ErrorCode.Config,
        `stream ${config.name} exists with ${field} ${current[field]}, Aviary needs ${config[field]}; ` +
          `JetStream cannot change that in place: move its messages elsewhere, delete the stream ` +
          `and start again`,
      );
    }
  }
  const changed = differences(current, config);
  if (changed.length === 0) {
    return { key, name: config.name, action: EnsureAction.Unchanged, changed };
  }
  try {
    const { name: _name, storage: _storage, retention: _retention, ...update } = config;
    await jsm.streams.update(config.name, {
      ...current,
      ...update,
      subjects: [...config.subjects],
    });
  } catch (error) {
    throw wrapNatsError(error, `cannot update stream ${config.name}`, ErrorCode.Config);
  }
  return { key, name: config.name, action: EnsureAction.Updated, changed };
}

async function currentConfig(jsm: StreamManager, name: string): Promise<StreamConfig | undefined> {
  try {
    return (await jsm.streams.info(name)).config;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) {
      return undefined;
    }
    throw wrapNatsError(error, `cannot read stream ${name}`);
  }
}

function differences(current: StreamConfig, desired: StreamDefinition['config']): string[] {
  const changed: string[] = [];
  for (const field of Object.keys(desired) as (keyof StreamDefinition['config'])[]) {
    const want = desired[field];
    const have = current[field];
    const same =
      Array.isArray(want) && Array.isArray(have)
        ? [...want].sort().join('\n') === [...have].sort().join('\n')
        : want === have;
    if (!same) changed.push(field);
  }
  return changed;
}

/**
 * The name of the stream that stores `subject`, or `undefined` when none does. Throws
 * UNAVAILABLE when JetStream cannot be asked, ABORTED when `signal` aborts.
 */
export async function findStreamForSubject(
  jsm: StreamManager,
  subject: string,
  options: { readonly signal?: AbortSignal } = {},
): Promise<string | undefined> {
  try {
    return await abortable(() => jsm.streams.find(subject), options.signal, 'finding a stream');
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) {
      return undefined;
    }
    throw wrapNatsError(error, `cannot look up the stream of ${subject}`);
  }
}
