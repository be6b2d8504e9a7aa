import { ErrorCode, ValidationError } from '@aviary/core';
import { describe, expect, it } from 'vitest';
import {
  analysisRequestSubject,
  analysisResultSubject,
  assertClusterName,
  commandSubject,
  isValidClusterName,
  messagingNamespace,
  observationSubject,
  parseSubject,
  parseSubjectOrThrow,
  SubjectType,
  subjectFilters,
} from './subjects.ts';

describe('subject builders', () => {
  it('build the production subjects', () => {
    expect(observationSubject('eu-1', 'heartbeat')).toBe('aviary.v1.cluster.eu-1.obs.heartbeat');
    expect(commandSubject('us-east-2')).toBe('aviary.v1.cluster.us-east-2.cmd');
    expect(analysisRequestSubject()).toBe('aviary.v1.analysis.req');
    expect(analysisResultSubject()).toBe('aviary.v1.analysis.res');
  });

  it('put a namespace in place of the aviary root', () => {
    const ns = messagingNamespace('test_42_abc');
    expect(ns).toEqual({ subjectRoot: 'test_42_abc', streamPrefix: 'TEST_42_ABC' });
    expect(commandSubject('eu-1', ns)).toBe('test_42_abc.v1.cluster.eu-1.cmd');
    expect(analysisResultSubject(ns)).toBe('test_42_abc.v1.analysis.res');
  });

  it('build wildcard filters for streams and consumers', () => {
    expect(subjectFilters.observations()).toBe('aviary.v1.cluster.*.obs.*');
    expect(subjectFilters.observations(undefined, 'eu-1')).toBe('aviary.v1.cluster.eu-1.obs.*');
    expect(subjectFilters.commands()).toBe('aviary.v1.cluster.*.cmd');
    expect(subjectFilters.analysis()).toEqual(['aviary.v1.analysis.req', 'aviary.v1.analysis.res']);
  });

  it.each(['*', '>', 'eu.1', 'eu 1', '', 'EU-1', '-eu', 'eu-', 'eu_1', 'a'.repeat(64)])(
    'reject the cluster name %j with a ValidationError',
    (name) => {
      expect(isValidClusterName(name)).toBe(false);
      expect(() => commandSubject(name)).toThrow(ValidationError);
      expect(() => observationSubject(name, 'heartbeat')).toThrow(ValidationError);
    },
  );

  it('accept DNS-1123 labels up to 63 characters', () => {
    for (const name of ['a', 'eu-1', '0', 'x'.repeat(63), 'prod-eu-west-1a']) {
      expect(assertClusterName(name)).toBe(name);
    }
  });

  it('say what a valid cluster name looks like', () => {
    try {
      commandSubject('eu.*');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      const validation = error as ValidationError;
      expect(validation.code).toBe(ErrorCode.Validation);
      expect(validation.issues[0]?.path).toBe('cluster');
      expect(validation.message).toContain('"eu.*" is not a valid cluster name');
    }
  });

  it('reject observation kinds that are not single safe tokens', () => {
    for (const kind of ['a.b', '*', '>', 'with space', '']) {
      expect(() => observationSubject('eu-1', kind)).toThrow(ValidationError);
    }
  });

  it('reject namespaces that are not safe subject tokens and stream name parts', () => {
    for (const name of ['', 'a.b', 'Aviary', '*', 'with space', '_x', 'x'.repeat(65)]) {
      expect(() => messagingNamespace(name)).toThrow(ValidationError);
    }
  });
});

describe('parseSubject', () => {
  it('round-trips every builder', () => {
    expect(parseSubject(observationSubject('eu-1', 'revision-seen'))).toEqual({
      type: SubjectType.Observation,
      cluster: 'eu-1',
      kind: 'revision-seen',
    });
    expect(parseSubject(commandSubject('us-1'))).toEqual({
      type: SubjectType.Command,
      cluster: 'us-1',
    });
    expect(parseSubject(analysisRequestSubject())).toEqual({ type: SubjectType.AnalysisRequest });
    expect(parseSubject(analysisResultSubject())).toEqual({ type: SubjectType.AnalysisResult });
  });

  it('parses within its namespace only', () => {
    const ns = messagingNamespace('t1');
    expect(parseSubject('t1.v1.cluster.eu-1.cmd', ns)).toEqual({
      type: SubjectType.Command,
      cluster: 'eu-1',
    });
    expect(parseSubject('t1.v1.cluster.eu-1.cmd')).toBeUndefined();
    expect(parseSubject('aviary.v1.cluster.eu-1.cmd', ns)).toBeUndefined();
  });

  it.each([
    'aviary.v2.cluster.eu-1.cmd',
    'aviary.v1.cluster.eu-1.cmd.extra',
    'aviary.v1.cluster.EU.cmd',
    'aviary.v1.cluster.eu-1.obs',
    'aviary.v1.cluster.eu-1.obs.a.b',
    'aviary.v1.cluster.eu-1.obs.*',
    'aviary.v1.cluster.*.cmd',
    'aviary.v1.analysis.other',
    'aviary.v1.analysis.req.x',
    'aviary.v1',
    'other.v1.cluster.eu-1.cmd',
    '',
  ])('returns undefined for %j', (subject) => {
    expect(parseSubject(subject)).toBeUndefined();
    expect(() => parseSubjectOrThrow(subject)).toThrow(ValidationError);
  });
});
