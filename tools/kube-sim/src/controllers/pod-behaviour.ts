import { createHash } from 'node:crypto';
import { parseGoDurationMs } from '@aviary/core';
import type { JsonObject } from '../patch.ts';
import { arrayAt, conditionOf, stringAt, timestamp } from './object.ts';

/**
 * How a simulated Pod behaves, chosen per version by annotations on the pod template (so every
 * Pod of a ReplicaSet behaves alike and a new template can behave differently).
 */
export const PodAnnotation = {
  /** A duration (`2s`, `500ms`, `1m30s`): Ready that long after the Pod starts. */
  readyAfter: 'sim.aviary.dev/ready-after',
  /** `"true"`: Running, never Ready. */
  neverReady: 'sim.aviary.dev/never-ready',
  /** `"true"`: the container keeps crashing: CrashLoopBackOff, `restartCount` growing, never Ready. */
  crash: 'sim.aviary.dev/crash',
} as const;

export type PodBehaviour =
  | { readonly kind: 'ready'; readonly afterMs: number }
  | { readonly kind: 'never-ready' }
  | { readonly kind: 'crash'; readonly restartIntervalMs: number };

export interface PodBehaviourDefaults {
  readonly readyDelayMs: number;
  readonly crashRestartIntervalMs: number;
}

/** A Go-style duration (`1m30s`, `250ms`, `2s`) in milliseconds, or undefined if it is not one. */
export function parseDurationMs(text: string): number | undefined {
  const parsed = parseGoDurationMs(text.trim());
  return parsed.ok ? parsed.ms : undefined;
}

export function podBehaviourOf(
  annotations: Readonly<Record<string, string>>,
  defaults: PodBehaviourDefaults,
): PodBehaviour {
  if (annotations[PodAnnotation.crash] === 'true') {
    return { kind: 'crash', restartIntervalMs: defaults.crashRestartIntervalMs };
  }
  if (annotations[PodAnnotation.neverReady] === 'true') return { kind: 'never-ready' };
  const readyAfter = annotations[PodAnnotation.readyAfter];
  const afterMs = readyAfter === undefined ? undefined : parseDurationMs(readyAfter);
  return { kind: 'ready', afterMs: afterMs ?? defaults.readyDelayMs };
}

export interface PodStatusInput {
  readonly pod: JsonObject;
  readonly behaviour: PodBehaviour;
  readonly startedAtMs: number;
  readonly nowMs: number;
  readonly podIP: string;
  readonly hostIP: string;
}

export interface PodStatusAt {
  readonly status: JsonObject;
  /** When the status changes next by itself (readiness, a restart); undefined if never. */
  readonly nextChangeAtMs: number | undefined;
}

function containerId(uid: string, name: string, restart: number): string {
  const hex = createHash('sha256').update(`${uid}/${name}/${restart}`).digest('hex');
  return `containerd://${hex}`;
}

/**
 * The status a kubelet would report for `pod` at `nowMs`, a pure function of its behaviour and
 * start time. Transition times are kept from the previous status when a condition did not change.
 */
export function podStatusAt(input: PodStatusInput): PodStatusAt {
  const { pod, behaviour, startedAtMs, nowMs } = input;
  const elapsed = Math.max(0, nowMs - startedAtMs);
  const previous = pod.status;
  const uid = stringAt(pod, 'metadata', 'uid');
  const podName = stringAt(pod, 'metadata', 'name');
  const namespace = stringAt(pod, 'metadata', 'namespace');
  const containers = arrayAt(pod, 'spec', 'containers');
  const names = containers.map((c) => stringAt(c, 'name'));

  let ready = false;
  let restarts = 0;
  let nextChangeAtMs: number | undefined;
  switch (behaviour.kind) {
    case 'ready':
      ready = elapsed >= behaviour.afterMs;
      nextChangeAtMs = ready ? undefined : startedAtMs + behaviour.afterMs;
      break;
    case 'never-ready':
      break;
    case 'crash': {
      const interval = Math.max(1, behaviour.restartIntervalMs);
      restarts = Math.floor(elapsed / interval);
      nextChangeAtMs = startedAtMs + (restarts + 1) * interval;
      break;
    }
    default: {
      const unknown: never = behaviour;
      throw new Error(`unknown pod behaviour ${JSON.stringify(unknown)}`);
    }
  }
  const started = timestamp(startedAtMs);
  const interval = behaviour.kind === 'crash' ? Math.max(1, behaviour.restartIntervalMs) : 0;

  const condition = (type: string, status: boolean, reason?: string, message?: string) => {
    const current = conditionOf(previous, type);
    const value = status ? 'True' : 'False';
    const since =
      current && current.status === value && typeof current.lastTransitionTime === 'string'
        ? current.lastTransitionTime
        : timestamp(nowMs);
    return {
      type,
      status: value,
      lastProbeTime: null,
      lastTransitionTime: since,
      ...(reason === undefined ? {} : { reason }),
      ...(message === undefined ? {} : { message }),
    };
  };
  const unready = `containers with unready status: [${names.join(' ')}]`;

  const containerStatuses: JsonObject[] = containers.map((c) => {
    const name = stringAt(c, 'name');
    const image = stringAt(c, 'image');
    const base = {
      name,
      image,
      imageID: `sim.aviary.dev/${image}`,
      containerID: containerId(uid, name, restarts),
      ready,
      restartCount: restarts,
    };
    if (restarts === 0) {
      return { ...base, started: true, state: { running: { startedAt: started } }, lastState: {} };
    }
    return {
      ...base,
      started: false,
      state: {
        waiting: {
          reason: 'CrashLoopBackOff',
          message: `back-off restarting failed container=${name} pod=${podName}_${namespace}(${uid})`,
        },
      },
      lastState: {
        terminated: {
          exitCode: 1,
          reason: 'Error',
          startedAt: timestamp(startedAtMs + (restarts - 1) * interval),
          finishedAt: timestamp(startedAtMs + restarts * interval),
          containerID: containerId(uid, name, restarts - 1),
        },
      },
    };
  });

  const status: JsonObject = {
    phase: 'Running',
    conditions: [
      condition('PodReadyToStartContainers', true),
      condition('Initialized', true),
      ready ? condition('Ready', true) : condition('Ready', false, 'ContainersNotReady', unready),
      ready
        ? condition('ContainersReady', true)
        : condition('ContainersReady', false, 'ContainersNotReady', unready),
      condition('PodScheduled', true),
    ],
    hostIP: input.hostIP,
    hostIPs: [{ ip: input.hostIP }],
    podIP: input.podIP,
    podIPs: [{ ip: input.podIP }],
    startTime: started,
    containerStatuses,
    qosClass: 'BestEffort',
  };
  return { status, nextChangeAtMs };
}
