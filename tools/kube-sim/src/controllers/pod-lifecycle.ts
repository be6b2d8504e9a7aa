import { deepEqual } from '../patch.ts';
import { type ControllerContext, QueueKind, splitKey } from './context.ts';
import { annotationsOf, PODS, parseTimestamp, stringAt, uidOf } from './object.ts';
import { type PodBehaviourDefaults, podBehaviourOf, podStatusAt } from './pod-behaviour.ts';

/**
 * A kubelet for every Pod of the cluster: a Pending Pod starts at once (Running, an IP, its
 * containers started), then becomes Ready, never does, or crash-loops as its annotations say.
 */
export class PodLifecycle {
  readonly #context: ControllerContext;
  readonly #defaults: PodBehaviourDefaults;
  /** Start time and IP by Pod uid. */
  readonly #started = new Map<string, { readonly atMs: number; readonly ip: string }>();
  #nextIp = 0;

  constructor(context: ControllerContext, defaults: PodBehaviourDefaults) {
    this.#context = context;
    this.#defaults = defaults;
  }

  sync(key: string): void {
    const [namespace, name] = splitKey(key);
    const pod = this.#context.store.find(PODS, namespace, name);
    if (pod === undefined) return;
    const phase = stringAt(pod, 'status', 'phase');
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const uid = uidOf(pod);
    let started = this.#started.get(uid);
    if (started === undefined) {
      const startTime = parseTimestamp(stringAt(pod, 'status', 'startTime'));
      const ip = stringAt(pod, 'status', 'podIP') || this.#allocateIp();
      started = { atMs: startTime ?? this.#context.now(), ip };
      this.#started.set(uid, started);
    }
    const { status, nextChangeAtMs } = podStatusAt({
      pod,
      behaviour: podBehaviourOf(annotationsOf(pod), this.#defaults),
      startedAtMs: started.atMs,
      nowMs: this.#context.now(),
      podIP: started.ip,
      hostIP: '10.0.0.1',
    });
    if (nextChangeAtMs !== undefined) this.#context.enqueueAt(QueueKind.pod, key, nextChangeAtMs);
    if (!deepEqual(pod.status, status)) {
      this.#context.store.update(
        PODS,
        namespace,
        name,
        { ...pod, status },
        { subresource: 'status' },
      );
    }
  }

  /** Drops what is kept about a deleted Pod. */
  forget(uid: string): void {
    this.#started.delete(uid);
  }

  #allocateIp(): string {
    const n = this.#nextIp++;
    return `10.244.${Math.floor(n / 250) % 250}.${(n % 250) + 2}`;
  }
}
