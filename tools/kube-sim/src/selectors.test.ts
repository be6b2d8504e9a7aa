import { describe, expect, it } from 'vitest';
import { KubeApiError } from './errors.ts';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.ts';

const match = (selector: string, labels: Record<string, string>) =>
  matchesLabels(parseLabelSelector(selector), labels);

describe('label selectors', () => {
  it('match every operator as the API server does', () => {
    const labels = { app: 'web', track: 'canary', 'example.com/tier': 'front' };
    expect(match('', labels)).toBe(true);
    expect(match('app=web', labels)).toBe(true);
    expect(match('app==web', labels)).toBe(true);
    expect(match('app=db', labels)).toBe(false);
    expect(match('app!=db', labels)).toBe(true);
    expect(match('missing!=x', labels)).toBe(true);
    expect(match('track in (canary, primary)', labels)).toBe(true);
    expect(match('track notin (canary)', labels)).toBe(false);
    expect(match('missing notin (a)', labels)).toBe(true);
    expect(match('example.com/tier', labels)).toBe(true);
    expect(match('!track', labels)).toBe(false);
    expect(match('!missing', labels)).toBe(true);
    expect(match('app=web,track in (canary),!missing', labels)).toBe(true);
    expect(match('app=web,track=primary', labels)).toBe(false);
  });

  it('reject malformed selectors with a 400', () => {
    for (const bad of ['app=we b', 'in (a)', 'app=web,bad key']) {
      expect(() => parseLabelSelector(bad), bad).toThrow(KubeApiError);
    }
  });
});

describe('field selectors', () => {
  const allowed = ['metadata.name', 'metadata.namespace', 'status.phase'];
  const pod = { metadata: { name: 'a', namespace: 'ns' }, status: { phase: 'Running' } };

  it('match equality and inequality on supported fields', () => {
    expect(matchesFields(parseFieldSelector('metadata.name=a', allowed), pod)).toBe(true);
    expect(matchesFields(parseFieldSelector('metadata.name==b', allowed), pod)).toBe(false);
    expect(
      matchesFields(parseFieldSelector('metadata.namespace!=x,status.phase=Running', allowed), pod),
    ).toBe(true);
  });

  it('reject unsupported fields with a 400', () => {
    expect(() => parseFieldSelector('spec.nope=1', allowed)).toThrow(/field label not supported/);
  });
});
