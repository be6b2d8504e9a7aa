import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { MAX_DOCUMENT_CHARS, parseRollout } from './parse-rollout.ts';
import { issuesOf } from './test-helpers.ts';
import { validateRollout } from './validate-rollout.ts';

const FLEET_YAML = `
apiVersion: aviary.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
  namespace: shop
spec:
  targetRef:
    kind: Deployment
    name: checkout
  provider: gatewayapi:v1
  service:
    port: 80
    targetPort: 8080
    gatewayRefs:
      - name: public
        namespace: gateways
    hosts: [checkout.example.com]
  analysis:
    interval: 1m
    threshold: 5
    stepWeights: [1, 10, 25, 50]
    maxHeldChecks: 6
    metrics:
      - name: request-success-rate
        interval: 1m
        thresholdRange: {min: 99}
      - name: request-duration
        thresholdRange: {max: 500}
      - name: error-budget
        templateRef: {name: error-budget, namespace: monitoring}
        templateVariables: {slo: "99.9"}
        thresholdRange: {max: 2}
    webhooks:
      - name: smoke
        type: pre-rollout
        url: http://loadtester.test/
        timeout: 30s
        metadata: {type: bash, cmd: "curl -sf http://checkout-canary.shop/healthz"}
      - name: load
        url: http://loadtester.test/
        metadata: {cmd: "hey -z 1m -q 10 http://checkout-canary.shop/"}
  fleet:
    failurePolicy: halt-and-revert
    waves:
      - name: canary
        clusters: [eu-west-1a]
        bake: 1h
      - name: europe
        selector: {matchLabels: {region: eu, env: prod}}
        maxParallel: 3
        bake: 30m
      - name: rest
        selector: {matchLabels: {env: prod}}
        maxParallel: all
    freezeWindows:
      - name: weekend
        weekly: {start: "Fri 16:00", end: "Mon 08:00", utcOffset: "+01:00"}
      - name: black-friday
        start: 2026-11-27T00:00:00Z
        end: 2026-11-30T00:00:00Z
`;

describe('parseRollout', () => {
  it('parses a realistic multi-wave spec', () => {
    const r = parseRollout(FLEET_YAML);
    expect(r.metadata).toEqual({
      name: 'checkout',
      namespace: 'shop',
      labels: {},
      annotations: {},
    });
    expect(r.spec.strategy).toBe('canary');
    expect(r.spec.analysis).toMatchObject({
      intervalMs: 60_000,
      threshold: 5,
      stepWeights: [1, 10, 25, 50],
      maxWeight: 50,
      maxHeldChecks: 6,
    });
    expect(r.spec.analysis.metrics.map((m) => [m.name, m.intervalMs, m.thresholdRange])).toEqual([
      ['request-success-rate', 60_000, { min: 99 }],
      ['request-duration', 60_000, { max: 500 }],
      ['error-budget', 60_000, { max: 2 }],
    ]);
    expect(r.spec.analysis.metrics[2]?.templateRef).toEqual({
      name: 'error-budget',
      namespace: 'monitoring',
    });
    expect(r.spec.analysis.webhooks.map((w) => [w.name, w.type, w.timeoutMs])).toEqual([
      ['smoke', 'pre-rollout', 30_000],
      ['load', 'rollout', 10_000],
    ]);
    expect(r.spec.fleet).toEqual({
      failurePolicy: 'halt-and-revert',
      waves: [
        { name: 'canary', clusters: ['eu-west-1a'], maxParallel: 1, bakeMs: 3_600_000 },
        {
          name: 'europe',
          selector: { matchLabels: { region: 'eu', env: 'prod' } },
          maxParallel: 3,
          bakeMs: 1_800_000,
        },
        { name: 'rest', selector: { matchLabels: { env: 'prod' } }, maxParallel: 'all', bakeMs: 0 },
      ],
      freezeWindows: [
        { name: 'weekend', weekly: { start: 'Fri 16:00', end: 'Mon 08:00', utcOffset: '+01:00' } },
        {
          name: 'black-friday',
          startMs: Date.parse('2026-11-27T00:00:00Z'),
          endMs: Date.parse('2026-11-30T00:00:00Z'),
        },
      ],
    });
  });

  it('gives the same Rollout from JSON and YAML', () => {
    const json = JSON.stringify(parseYaml(FLEET_YAML));
    expect(parseRollout(json, 'json')).toEqual(parseRollout(FLEET_YAML, 'yaml'));
  });

  it('is stable through a JSON round trip of the normalized spec', () => {
    const once = parseRollout(FLEET_YAML);
    expect(parseRollout(JSON.stringify(once), 'json')).toEqual(once);
    expect(validateRollout(once)).toEqual(once);
  });

  it('keeps YAML 1.2 scalars: yes is a string, not true', () => {
    const issues = issuesOf(() =>
      parseRollout(FLEET_YAML.replace('threshold: 5', 'threshold: 5\n    mirror: yes')),
    );
    expect(issues).toEqual([{ path: 'spec.analysis.mirror', message: 'must be true or false' }]);
  });

  it('reports syntax errors, duplicate keys and several documents', () => {
    expect(issuesOf(() => parseRollout('a: [1, 2', 'yaml'))[0]?.message).toMatch(
      /^not valid YAML: /,
    );
    expect(issuesOf(() => parseRollout('a: 1\na: 2\n'))[0]?.message).toMatch(
      /^not valid YAML: Map keys must be unique/,
    );
    expect(issuesOf(() => parseRollout('{"a": ', 'json'))[0]?.message).toMatch(/^not valid JSON: /);
    expect(issuesOf(() => parseRollout(`${FLEET_YAML}\n---\n${FLEET_YAML}`))).toEqual([
      { path: '', message: 'must be exactly one document (got 2)' },
    ]);
  });

  it('bounds alias expansion and document size', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
      'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]',
    ].join('\n');
    expect(issuesOf(() => parseRollout(bomb))[0]?.message).toMatch(/^not valid YAML: .*alias/i);
    expect(issuesOf(() => parseRollout(' '.repeat(MAX_DOCUMENT_CHARS + 1)))).toEqual([
      {
        path: '',
        message: `document is too large (${MAX_DOCUMENT_CHARS + 1} characters, at most ${MAX_DOCUMENT_CHARS})`,
      },
    ]);
  });
});
