import { describe, expect, it } from 'vitest';
import { importFlaggerCanary } from './flagger-import.ts';
import { issuesOf } from './test-helpers.ts';
import { validateRollout } from './validate-rollout.ts';

// Flagger's documented podinfo examples (docs/gitbook tutorials), unchanged.
const CANARY_STEP_WEIGHT_DOC = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: istio
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  progressDeadlineSeconds: 60
  autoscalerRef:
    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    name: podinfo
  service:
    port: 9898
    targetPort: 9898
    gateways:
    - istio-system/public-gateway
    hosts:
    - app.example.com
    trafficPolicy:
      tls:
        mode: DISABLE
    retries:
      attempts: 3
      perTryTimeout: 1s
      retryOn: "gateway-error,connect-failure,refused-stream"
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
      interval: 1m
    - name: request-duration
      thresholdRange:
        max: 500
      interval: 30s
    webhooks:
      - name: acceptance-test
        type: pre-rollout
        url: http://flagger-loadtester.test/
        timeout: 30s
        metadata:
          type: bash
          cmd: "curl -sd 'test' http://podinfo-canary:9898/token | grep token"
      - name: load-test
        url: http://flagger-loadtester.test/
        timeout: 5s
        metadata:
          cmd: "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"
`;

const CANARY_STEP_WEIGHTS = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: linkerd
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    port: 9898
  analysis:
    interval: 30s
    threshold: 5
    stepWeights: [1, 2, 10, 80]
    stepWeightPromotion: 50
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
      interval: 1m
`;

const AB_TESTING = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: nginx
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  ingressRef:
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    name: podinfo
  service:
    port: 80
    targetPort: 9898
  analysis:
    interval: 1m
    threshold: 10
    iterations: 10
    match:
      - headers:
          x-canary:
            exact: "insider"
      - headers:
          cookie:
            exact: "canary"
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
      interval: 1m
    webhooks:
      - name: load-test
        url: http://flagger-loadtester.test/
        timeout: 5s
        metadata:
          cmd: "hey -z 1m -q 10 -c 2 -H 'Cookie: canary=always' http://app.example.com/"
`;

const BLUE_GREEN_DOC = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: kubernetes
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  progressDeadlineSeconds: 60
  service:
    port: 9898
    portDiscovery: true
  analysis:
    interval: 30s
    threshold: 2
    iterations: 10
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
      interval: 1m
    - name: request-duration
      thresholdRange:
        max: 500
      interval: 30s
    webhooks:
      - name: "confirm"
        type: confirm-promotion
        url: http://flagger-loadtester.test/gate/check
`;

const CANARY_STEP_WEIGHT = CANARY_STEP_WEIGHT_DOC;
const BLUE_GREEN = BLUE_GREEN_DOC;

const BLUE_GREEN_MIRROR = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: istio
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    port: 9898
  analysis:
    interval: 1m
    threshold: 5
    iterations: 10
    mirror: true
    mirrorWeight: 100
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
      interval: 1m
`;

const TEMPLATE = `
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: not-found-percentage
  namespace: istio-system
spec:
  provider:
    type: prometheus
    address: http://prometheus.istio-system:9090
  query: |
    100 - sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}",response_code!="404"}[{{ interval }}]))
    / sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}"}[{{ interval }}])) * 100
`;

describe('importFlaggerCanary: the canonical examples', () => {
  it('canary with stepWeight and maxWeight', () => {
    const { rollout, notes } = importFlaggerCanary(CANARY_STEP_WEIGHT);
    // The routing details the agent does not write yet are dropped, each with a note.
    expect(notes.map((n) => n.path)).toEqual([
      'spec.service.trafficPolicy',
      'spec.service.retries',
    ]);
    expect(rollout.metadata).toMatchObject({ name: 'podinfo', namespace: 'test' });
    expect(rollout.spec.strategy).toBe('canary');
    expect(rollout.spec.progressDeadlineSeconds).toBe(60);
    expect(rollout.spec.autoscalerRef).toEqual({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      name: 'podinfo',
    });
    expect(rollout.spec.service).toMatchObject({
      port: 9898,
      gateways: ['istio-system/public-gateway'],
      hosts: ['app.example.com'],
    });
    expect(rollout.spec.analysis).toMatchObject({
      intervalMs: 60_000,
      threshold: 5,
      maxWeight: 50,
      stepWeight: 10,
      stepWeights: [],
    });
    expect(
      rollout.spec.analysis.metrics.map((m) => [m.name, m.intervalMs, m.thresholdRange]),
    ).toEqual([
      ['request-success-rate', 60_000, { min: 99 }],
      ['request-duration', 30_000, { max: 500 }],
    ]);
    expect(
      rollout.spec.analysis.webhooks.map((w) => [w.name, w.type, w.timeoutMs, w.metadata.type]),
    ).toEqual([
      ['acceptance-test', 'pre-rollout', 30_000, 'bash'],
      ['load-test', 'rollout', 5_000, undefined],
    ]);
    expect(rollout.spec.fleet).toEqual({
      waves: [{ name: 'default', selector: { matchLabels: {} }, maxParallel: 1, bakeMs: 0 }],
      failurePolicy: 'halt',
      freezeWindows: [],
    });
  });

  it('canary with stepWeights and progressive promotion', () => {
    const { rollout } = importFlaggerCanary(CANARY_STEP_WEIGHTS);
    expect(rollout.spec.provider).toBe('linkerd');
    expect(rollout.spec.strategy).toBe('canary');
    expect(rollout.spec.analysis).toMatchObject({
      intervalMs: 30_000,
      stepWeights: [1, 2, 10, 80],
      maxWeight: 80,
      stepWeight: 0,
      stepWeightPromotion: 50,
    });
  });

  it('A/B testing with match and iterations', () => {
    const { rollout } = importFlaggerCanary(AB_TESTING);
    expect(rollout.spec.strategy).toBe('ab');
    expect(rollout.spec.ingressRef).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      name: 'podinfo',
    });
    expect(rollout.spec.analysis).toMatchObject({ iterations: 10, threshold: 10, stepWeight: 0 });
    expect(rollout.spec.analysis.match).toEqual([
      { headers: { 'x-canary': { exact: 'insider' } } },
      { headers: { cookie: { exact: 'canary' } } },
    ]);
  });

  it('blue/green with the kubernetes provider', () => {
    const { rollout } = importFlaggerCanary(BLUE_GREEN);
    expect(rollout.spec.strategy).toBe('blue-green');
    expect(rollout.spec.provider).toBe('kubernetes');
    expect(rollout.spec.service.portDiscovery).toBe(false);
    expect(rollout.spec.analysis).toMatchObject({
      iterations: 10,
      threshold: 2,
      intervalMs: 30_000,
    });
    expect(rollout.spec.analysis.webhooks[0]).toMatchObject({
      name: 'confirm',
      type: 'confirm-promotion',
    });
  });

  it('blue/green with traffic mirroring', () => {
    const { rollout } = importFlaggerCanary(BLUE_GREEN_MIRROR);
    expect(rollout.spec.strategy).toBe('blue-green-mirror');
    expect(rollout.spec.analysis).toMatchObject({
      iterations: 10,
      mirror: true,
      mirrorWeight: 100,
    });
  });

  it('drops, with a note, the service fields the agent cannot apply yet (never keeps and ignores them)', () => {
    const stepWeight = importFlaggerCanary(CANARY_STEP_WEIGHT_DOC);
    expect(stepWeight.rollout.spec.service).not.toHaveProperty('trafficPolicy');
    expect(stepWeight.rollout.spec.service).not.toHaveProperty('retries');
    expect(stepWeight.notes).toEqual(
      expect.arrayContaining([
        {
          path: 'spec.service.trafficPolicy',
          message:
            'dropped: not applied by Aviary yet (the routers write no DestinationRule trafficPolicy)',
        },
        {
          path: 'spec.service.retries',
          message: 'dropped: not applied by Aviary yet (the routing objects carry no retry policy)',
        },
      ]),
    );
    expect(importFlaggerCanary(BLUE_GREEN_DOC).notes).toEqual(
      expect.arrayContaining([
        {
          path: 'spec.service.portDiscovery',
          message:
            'dropped: not applied by Aviary yet (the generated Services expose service.port only)',
        },
      ]),
    );
  });

  it('imports are stable Rollouts', () => {
    for (const yaml of [
      CANARY_STEP_WEIGHT,
      CANARY_STEP_WEIGHTS,
      AB_TESTING,
      BLUE_GREEN,
      BLUE_GREEN_MIRROR,
    ]) {
      const { rollout } = importFlaggerCanary(yaml);
      expect(validateRollout(JSON.parse(JSON.stringify(rollout)))).toEqual(rollout);
    }
  });
});

describe('importFlaggerCanary: templates and corrections', () => {
  it('returns MetricTemplates given alongside or in the same file, and notes unresolved refs', () => {
    const canary = CANARY_STEP_WEIGHTS.replace(
      '    metrics:\n',
      [
        '    metrics:',
        '    - name: "404s percentage"',
        '      templateRef: {name: not-found-percentage, namespace: istio-system}',
        '      thresholdRange: {max: 5}',
        '    - name: latency',
        '      templateRef: {name: latency}',
        '      thresholdRange: {max: 1}',
        '',
      ].join('\n'),
    );
    const alongside = importFlaggerCanary(canary, [TEMPLATE]);
    const inline = importFlaggerCanary(`${canary}\n---\n${TEMPLATE}`);
    expect(inline).toEqual(alongside);
    expect(alongside.metricTemplates).toEqual([
      {
        apiVersion: 'flagger.app/v1beta1',
        kind: 'MetricTemplate',
        metadata: { name: 'not-found-percentage', namespace: 'istio-system' },
        spec: {
          provider: {
            type: 'prometheus',
            address: 'http://prometheus.istio-system:9090',
            insecureSkipVerify: false,
          },
          query: expect.stringContaining('{{ target }}'),
        },
      },
    ]);
    expect(alongside.notes).toEqual([
      {
        path: 'spec.analysis.metrics[1].templateRef',
        message: 'MetricTemplate test/latency was not among the imported documents',
      },
    ]);
  });

  it("applies Flagger's silent corrections and says so", () => {
    const canary = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test, uid: 1234, resourceVersion: "7"}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  canaryAnalysis:
    interval: 5s
    threshold: 0
    stepWeights: [10, 50]
    maxWeight: 30
    metrics:
    - name: request-success-rate
      threshold: 99
    - name: request-duration
      threshold: 500
    - name: errors
      query: sum(rate(errors_total{namespace="{{ namespace }}"}[1m]))
      threshold: 1
    webhooks:
    - {name: load, type: "", url: "http://lt/", timeout: "5"}
    alerts:
    - {name: on-call, severity: "", providerRef: {name: slack}}
status: {phase: Succeeded}
`;
    const { rollout, metricTemplates, notes } = importFlaggerCanary(canary);
    expect(rollout.spec.provider).toBe('istio');
    expect(rollout.spec.analysis).toMatchObject({
      intervalMs: 10_000,
      threshold: 1,
      maxWeight: 50,
    });
    expect(
      rollout.spec.analysis.metrics.map((m) => [m.name, m.thresholdRange, m.templateRef]),
    ).toEqual([
      ['request-success-rate', { min: 99 }, undefined],
      ['request-duration', { max: 500 }, undefined],
      ['errors', { max: 1 }, { name: 'podinfo-errors', namespace: 'test' }],
    ]);
    expect(metricTemplates).toEqual([
      {
        apiVersion: 'flagger.app/v1beta1',
        kind: 'MetricTemplate',
        metadata: { name: 'podinfo-errors', namespace: 'test' },
        spec: {
          provider: {
            type: 'prometheus',
            address: 'http://prometheus:9090',
            insecureSkipVerify: false,
          },
          query: 'sum(rate(errors_total{namespace="{{ namespace }}"}[1m]))',
        },
      },
    ]);
    expect(rollout.spec.analysis.webhooks[0]).toMatchObject({ type: 'rollout', timeoutMs: 10_000 });
    expect(rollout.spec.analysis.alerts[0]?.severity).toBe('info');
    expect(notes.map((n) => n.path)).toEqual([
      'status',
      'metadata.uid',
      'metadata.resourceVersion',
      'spec.canaryAnalysis',
      'spec.provider',
      'spec.analysis.interval',
      'spec.analysis.threshold',
      'spec.analysis.maxWeight',
      'spec.analysis.webhooks[0].type',
      'spec.analysis.webhooks[0].timeout',
      'spec.analysis.alerts[0].severity',
      'spec.analysis.metrics[0].threshold',
      'spec.analysis.metrics[1].threshold',
      'spec.analysis.metrics[2].threshold',
      'spec.analysis.metrics[2].query',
    ]);
  });

  it('forces iterations with the kubernetes provider, as Flagger does', () => {
    const { rollout, notes } = importFlaggerCanary(BLUE_GREEN.replace('    iterations: 10\n', ''));
    expect(rollout.spec.analysis.iterations).toBe(10);
    expect(notes).toEqual([
      {
        path: 'spec.service.portDiscovery',
        message:
          'dropped: not applied by Aviary yet (the generated Services expose service.port only)',
      },
      {
        path: 'spec.analysis.iterations',
        message: 'Flagger uses 10 with the kubernetes provider: imported as 10',
      },
    ]);
  });

  it('reports unknown and unsupported Flagger fields with their paths', () => {
    const canary = CANARY_STEP_WEIGHT.replace(
      '    threshold: 5\n',
      '    threshhold: 5\n    maxHeldChecks: 3\n',
    )
      .replace(
        '  progressDeadlineSeconds: 60\n',
        '  progressDeadlineSeconds: 60\n  routeRef: {name: x}\n  fleet: {}\n',
      )
      .replace(
        '    - name: request-success-rate\n',
        '    - name: request-success-rate\n      judge: comparison\n',
      );
    expect(issuesOf(() => importFlaggerCanary(canary))).toEqual([
      { path: 'spec.fleet', message: 'unknown field' },
      { path: 'spec.routeRef', message: 'APISIX routes are not supported by Aviary' },
      { path: 'spec.analysis.maxHeldChecks', message: 'unknown field' },
      { path: 'spec.analysis.metrics[0].judge', message: 'unknown field' },
      { path: 'spec.analysis.threshhold', message: 'unknown field (did you mean "threshold"?)' },
    ]);
  });

  it('rejects documents that are not one Canary plus MetricTemplates', () => {
    expect(issuesOf(() => importFlaggerCanary(TEMPLATE))).toEqual([
      { path: '', message: 'must contain exactly one Canary (got 0)' },
    ]);
    expect(issuesOf(() => importFlaggerCanary(`${BLUE_GREEN}\n---\nkind: Service\n`))).toEqual([
      { path: 'documents[1].kind', message: 'must be Canary or MetricTemplate (got "Service")' },
    ]);
  });

  it('validates MetricTemplates', () => {
    const bad = TEMPLATE.replace('type: prometheus', 'type: prometeus');
    expect(issuesOf(() => importFlaggerCanary(BLUE_GREEN, [bad]))).toEqual([
      {
        path: 'metricTemplates[0].spec.provider.type',
        message:
          'must be one of: prometheus, influxdb, datadog, externalmetrics, stackdriver, cloudwatch, newrelic, graphite, dynatrace, keptn, splunk (got "prometeus")',
      },
    ]);
  });
});
