import { ValidationError, type ValidationIssue } from '@aviary/core';

/** Runs `fn`, expecting a ValidationError; returns its issues (fails the test otherwise). */
export function issuesOf(fn: () => unknown): readonly ValidationIssue[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected a ValidationError, got a result');
}

/** The smallest valid Rollout resource; `patch` edits a deep copy. */
export function minimal(patch: (r: MinimalRollout) => void = () => {}): MinimalRollout {
  const r: MinimalRollout = {
    apiVersion: 'aviary.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'podinfo', namespace: 'test' },
    spec: {
      targetRef: { kind: 'Deployment', name: 'podinfo' },
      service: { port: 9898 },
      analysis: { stepWeight: 10 },
    },
  };
  patch(r);
  return r;
}

// biome-ignore lint/suspicious/noExplicitAny: test fixtures are edited freely.
export type MinimalRollout = { [key: string]: any };
