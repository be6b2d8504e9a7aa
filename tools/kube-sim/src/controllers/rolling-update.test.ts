import { describe, expect, it } from 'vitest';
import { parseDurationMs, podBehaviourOf } from './pod-behaviour.ts';
import { podTemplateHash } from './pod-template-hash.ts';
import { newReplicaSetReplicas, resolveFenceposts, scaledValue } from './rolling-update.ts';

describe('rolling update arithmetic', () => {
  it('rounds maxSurge up and maxUnavailable down, never both zero', () => {
    expect(resolveFenceposts(undefined, undefined, 10)).toEqual({ maxSurge: 3, maxUnavailable: 2 });
    expect(resolveFenceposts(undefined, undefined, 2)).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(resolveFenceposts(undefined, undefined, 0)).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(resolveFenceposts(0, '0%', 5)).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(resolveFenceposts(2, '50%', 5)).toEqual({ maxSurge: 2, maxUnavailable: 2 });
    expect(scaledValue('33%', 10, true)).toBe(4);
    expect(scaledValue('33%', 10, false)).toBe(3);
  });

  it('grows the new ReplicaSet up to replicas + maxSurge in total', () => {
    const f = { maxSurge: 1, maxUnavailable: 1 };
    expect(newReplicaSetReplicas(4, f, 4, 0)).toBe(1);
    expect(newReplicaSetReplicas(4, f, 5, 1)).toBe(1);
    expect(newReplicaSetReplicas(4, f, 3, 1)).toBe(3);
    expect(newReplicaSetReplicas(4, f, 0, 0)).toBe(4);
  });
});

describe('pod templates and behaviours', () => {
  it('hashes a template stably, whatever the key order', () => {
    const a = podTemplateHash({ metadata: { labels: { a: '1', b: '2' } }, spec: { x: 1 } });
    const b = podTemplateHash({ spec: { x: 1 }, metadata: { labels: { b: '2', a: '1' } } });
    expect(a).toBe(b);
    expect(a).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    expect(podTemplateHash({ spec: { x: 2 } })).not.toBe(a);
  });

  it('reads behaviour annotations and Go durations', () => {
    expect(parseDurationMs('1m30s')).toBe(90_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('1.5s')).toBe(1500);
    expect(parseDurationMs('soon')).toBeUndefined();
    const defaults = { readyDelayMs: 200, crashRestartIntervalMs: 500 };
    expect(podBehaviourOf({}, defaults)).toEqual({ kind: 'ready', afterMs: 200 });
    expect(podBehaviourOf({ 'sim.aviary.dev/ready-after': '2s' }, defaults)).toEqual({
      kind: 'ready',
      afterMs: 2000,
    });
    expect(podBehaviourOf({ 'sim.aviary.dev/never-ready': 'true' }, defaults)).toEqual({
      kind: 'never-ready',
    });
    expect(podBehaviourOf({ 'sim.aviary.dev/crash': 'true' }, defaults)).toEqual({
      kind: 'crash',
      restartIntervalMs: 500,
    });
  });
});
