import { ValidationError } from '@aviary/core';
import { describe, expect, it } from 'vitest';
import { issuesOf, minimal } from './test-helpers.ts';
import { validateRollout } from './validate-rollout.ts';

describe('validateRollout defaults', () => {
  it('applies every default to a minimal spec', () => {
    expect(validateRollout(minimal())).toEqual({
      apiVersion: 'aviary.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'podinfo', namespace: 'test', labels: {}, annotations: {} },
      spec: {
        targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
        provider: 'istio',
        service: {
          name: 'podinfo',
          port: 9898,
          portName: 'http',
          targetPort: 9898,
          portDiscovery: false,
          headless: false,
          gateways: ['mesh'],
          gatewayRefs: [],
          hosts: [],
          delegation: false,
          match: [],
        },
        progressDeadlineSeconds: 600,
        skipAnalysis: false,
        suspend: false,
        revertOnDeletion: false,
        strategy: 'canary',
        analysis: {
          intervalMs: 60_000,
          threshold: 1,
          maxWeight: 100,
          stepWeight: 10,
          stepWeights: [],
          stepWeightPromotion: 0,
          iterations: 0,
          match: [],
          mirror: false,
          mirrorWeight: 0,
          canaryReadyThreshold: 100,
          primaryReadyThreshold: 100,
          maxHeldChecks: 10,
          resultTimeoutMs: 240_000, // the interval + 3 min
          metrics: [],
          webhooks: [],
          alerts: [],
        },
        fleet: {
          waves: [{ name: 'default', selector: { matchLabels: {} }, maxParallel: 1, bakeMs: 0 }],
          failurePolicy: 'halt',
          freezeWindows: [],
        },
      },
    });
  });

  it('defaults metric, webhook and alert fields', () => {
    const r = validateRollout(
      minimal((x) => {
        x.spec.analysis.metrics = [{ name: 'request-success-rate', thresholdRange: { min: 99 } }];
        x.spec.analysis.webhooks = [{ name: 'load', url: 'http://loadtester.test/' }];
        x.spec.analysis.alerts = [{ name: 'dev', providerRef: { name: 'slack' } }];
      }),
    );
    expect(r.spec.analysis.metrics).toEqual([
      {
        name: 'request-success-rate',
        intervalMs: 60_000,
        thresholdRange: { min: 99 },
        templateVariables: {},
      },
    ]);
    expect(r.spec.analysis.webhooks).toEqual([
      {
        name: 'load',
        type: 'rollout',
        url: 'http://loadtester.test/',
        timeoutMs: 10_000,
        retries: 0,
        muteAlert: false,
        disableTLS: false,
        metadata: {},
      },
    ]);
    expect(r.spec.analysis.alerts).toEqual([
      { name: 'dev', severity: 'info', providerRef: { name: 'slack', namespace: 'test' } },
    ]);
  });

  it('raises an interval under 10s to 10s (Flagger floor) and keeps longer ones', () => {
    const short = validateRollout(minimal((x) => (x.spec.analysis.interval = '5s')));
    expect(short.spec.analysis.intervalMs).toBe(10_000);
    const long = validateRollout(minimal((x) => (x.spec.analysis.interval = '1m30s')));
    expect(long.spec.analysis.intervalMs).toBe(90_000);
  });

  it('accepts aviary-gate: webhook URLs naming a DNS-label gate, and refuses others', () => {
    const withUrl = (url: string) =>
      minimal((x) => {
        x.spec.analysis.webhooks = [{ name: 'approval', type: 'confirm-promotion', url }];
      });
    expect(validateRollout(withUrl('aviary-gate:approve-eu')).spec.analysis.webhooks[0]?.url).toBe(
      'aviary-gate:approve-eu',
    );
    expect(() => validateRollout(withUrl('aviary-gate:Not_A_Label'))).toThrow(/DNS label/);
    expect(() => validateRollout(withUrl('ftp://example.com'))).toThrow(/http or https/);
  });

  it('lets Aviary’s own intervalMs go down to 1s (not Flagger’s interval)', () => {
    const ms = (value: number) =>
      validateRollout(
        minimal((x) => {
          delete x.spec.analysis.interval;
          x.spec.analysis.intervalMs = value;
        }),
      ).spec.analysis.intervalMs;
    expect(ms(2000)).toBe(2000);
    expect(ms(200)).toBe(1000);
  });

  it('treats a missing analysis block as skipAnalysis, like Flagger', () => {
    const r = validateRollout(minimal((x) => delete x.spec.analysis));
    expect(r.spec.skipAnalysis).toBe(true);
    expect(r.spec.strategy).toBe('canary');
    expect(validateRollout(r)).toEqual(r);
  });

  it('normalizes maxWeight to the last of stepWeights', () => {
    const r = validateRollout(minimal((x) => (x.spec.analysis = { stepWeights: [1, 5, 10, 80] })));
    expect(r.spec.analysis.maxWeight).toBe(80);
    expect(r.spec.analysis.stepWeights).toEqual([1, 5, 10, 80]);
  });

  it('accepts the provider alias none as kubernetes', () => {
    const r = validateRollout(
      minimal((x) => {
        x.spec.provider = 'none';
        x.spec.analysis = { iterations: 5 };
      }),
    );
    expect(r.spec.provider).toBe('kubernetes');
    expect(r.spec.service.gateways).toEqual([]);
    expect(r.spec.strategy).toBe('blue-green');
  });
});

describe('strategy derivation', () => {
  it.each([
    [{ stepWeight: 10 }, 'istio', 'canary'],
    [{ stepWeights: [10, 50] }, 'istio', 'canary'],
    [{ stepWeight: 10, mirror: true }, 'istio', 'canary'],
    [{ iterations: 10, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] }, 'istio', 'ab'],
    [{ iterations: 10 }, 'istio', 'blue-green'],
    [{ iterations: 10, mirror: true }, 'istio', 'blue-green-mirror'],
    [{ iterations: 10, mirror: true }, 'gatewayapi:v1', 'blue-green-mirror'],
    [{ iterations: 10 }, 'kubernetes', 'blue-green'],
  ])('%j with %s is %s', (analysis, provider, strategy) => {
    const r = validateRollout(
      minimal((x) => {
        x.spec.analysis = analysis;
        x.spec.provider = provider;
        if (provider.startsWith('gatewayapi')) x.spec.service.gatewayRefs = [{ name: 'public' }];
      }),
    );
    expect(r.spec.strategy).toBe(strategy);
  });

  it('accepts a given strategy only when it matches the derived one', () => {
    expect(validateRollout(minimal((x) => (x.spec.strategy = 'canary'))).spec.strategy).toBe(
      'canary',
    );
    expect(
      issuesOf(() => validateRollout(minimal((x) => (x.spec.strategy = 'blue-green')))),
    ).toEqual([
      {
        path: 'spec.strategy',
        message: 'is derived from the analysis block and would be canary, not blue-green',
      },
    ]);
  });
});

describe('validation rules', () => {
  const cases: [
    string,
    (x: ReturnType<typeof minimal>) => void,
    { path: string; message: string }[],
  ][] = [
    [
      'stepWeights strictly increasing',
      (x) => (x.spec.analysis = { stepWeights: [10, 20, 20, 15] }),
      [
        {
          path: 'spec.analysis.stepWeights[2]',
          message: 'must be greater than the previous step (20)',
        },
        {
          path: 'spec.analysis.stepWeights[3]',
          message: 'must be greater than the previous step (20)',
        },
      ],
    ],
    [
      'stepWeights at most 100',
      (x) => (x.spec.analysis = { stepWeights: [50, 120] }),
      [{ path: 'spec.analysis.stepWeights[1]', message: 'must be between 1 and 100 (got 120)' }],
    ],
    [
      'maxWeight at most 100',
      (x) => (x.spec.analysis.maxWeight = 101),
      [{ path: 'spec.analysis.maxWeight', message: 'must be between 1 and 100 (got 101)' }],
    ],
    [
      'maxWeight that stepWeights would ignore',
      (x) => (x.spec.analysis = { stepWeights: [10, 40], maxWeight: 50 }),
      [
        {
          path: 'spec.analysis.maxWeight',
          message:
            'is ignored when stepWeights is set (the last step, 40, is the maximum): remove it or set it to 40',
        },
      ],
    ],
    [
      'stepWeight and stepWeights together',
      (x) => (x.spec.analysis = { stepWeight: 10, stepWeights: [10, 40] }),
      [
        {
          path: 'spec.analysis.stepWeights',
          message: 'set either stepWeight or stepWeights, not both',
        },
      ],
    ],
    [
      'no way to advance',
      (x) => (x.spec.analysis = { stepWeight: 0 }),
      [
        {
          path: 'spec.analysis',
          message:
            'must set stepWeight, stepWeights or iterations: without them the canary never advances',
        },
      ],
    ],
    [
      'iterations with stepWeight',
      (x) => (x.spec.analysis = { stepWeight: 10, iterations: 5 }),
      [
        {
          path: 'spec.analysis.iterations',
          message:
            'selects blue/green or A/B testing, which ignore stepWeight: set one of iterations, stepWeight or stepWeights',
        },
      ],
    ],
    [
      'match without iterations',
      (x) => (x.spec.analysis.match = [{ headers: { user: { exact: 'x' } } }]),
      [{ path: 'spec.analysis.match', message: 'requires iterations (A/B testing)' }],
    ],
    [
      'match with two matchers',
      (x) =>
        (x.spec.analysis = {
          iterations: 2,
          match: [{ headers: { user: { exact: 'x', regex: 'y' } } }],
        }),
      [
        {
          path: 'spec.analysis.match[0].headers.user',
          message: 'must set exactly one of: exact, prefix, suffix, regex',
        },
      ],
    ],
    [
      'mirror with nginx',
      (x) => {
        x.spec.provider = 'nginx';
        x.spec.ingressRef = { name: 'podinfo' };
        x.spec.analysis.mirror = true;
      },
      [
        {
          path: 'spec.analysis.mirror',
          message:
            'is not supported by the nginx router (istio: canary and blue/green; gatewayapi: blue/green)',
        },
      ],
    ],
    [
      'mirror with the gatewayapi canary',
      (x) => {
        x.spec.provider = 'gatewayapi:v1';
        x.spec.service.gatewayRefs = [{ name: 'public', namespace: 'gateways' }];
        x.spec.analysis.mirror = true;
      },
      [
        {
          path: 'spec.analysis.mirror',
          message: 'is supported by the gatewayapi router only for blue/green (this is canary)',
        },
      ],
    ],
    [
      'mirrorWeight without mirror',
      (x) => (x.spec.analysis.mirrorWeight = 50),
      [{ path: 'spec.analysis.mirrorWeight', message: 'requires mirror: true' }],
    ],
    [
      'sessionAffinity with blue/green',
      (x) => (x.spec.analysis = { iterations: 3, sessionAffinity: { cookieName: 'canary' } }),
      [
        {
          path: 'spec.analysis.sessionAffinity',
          message: 'applies only to the canary strategy (this is blue-green)',
        },
      ],
    ],
    [
      'sessionAffinity with equal cookies',
      (x) => (x.spec.analysis.sessionAffinity = { cookieName: 'c', primaryCookieName: 'c' }),
      [
        {
          path: 'spec.analysis.sessionAffinity.primaryCookieName',
          message: 'must differ from cookieName',
        },
      ],
    ],
    [
      'kubernetes provider with weights',
      (x) => (x.spec.provider = 'kubernetes'),
      [
        {
          path: 'spec.analysis.stepWeight',
          message:
            'needs a traffic router: provider kubernetes supports only blue/green (set iterations)',
        },
      ],
    ],
    [
      'nginx without ingressRef',
      (x) => (x.spec.provider = 'nginx'),
      [{ path: 'spec.ingressRef', message: 'is required with the nginx provider' }],
    ],
    [
      'gatewayapi without gatewayRefs',
      (x) => (x.spec.provider = 'gatewayapi:v1'),
      [
        {
          path: 'spec.service.gatewayRefs',
          message: 'is required with the gatewayapi provider (at least one)',
        },
      ],
    ],
    [
      'unsupported Flagger router',
      (x) => (x.spec.provider = 'appmesh'),
      [
        {
          path: 'spec.provider',
          message:
            'router appmesh is not supported by Aviary (supported: istio, linkerd, nginx, gatewayapi:v1, gatewayapi:v1beta1, smi:v1alpha1, smi:v1alpha2, smi:v1alpha3, kubernetes, none)',
        },
      ],
    ],
    [
      'threshold below 1',
      (x) => (x.spec.analysis.threshold = 0),
      [{ path: 'spec.analysis.threshold', message: 'must be at least 1 (got 0)' }],
    ],
    [
      'ready thresholds are percentages',
      (x) => (x.spec.analysis.canaryReadyThreshold = 150),
      [
        {
          path: 'spec.analysis.canaryReadyThreshold',
          message: 'must be between 0 and 100 (got 150)',
        },
      ],
    ],
    [
      'bad interval',
      (x) => (x.spec.analysis.interval = '1d'),
      [
        {
          path: 'spec.analysis.interval',
          message: 'must be a duration such as 30s, 1m or 1h30m (got "1d")',
        },
      ],
    ],
    [
      'interval and intervalMs',
      (x) => {
        x.spec.analysis.interval = '1m';
        x.spec.analysis.intervalMs = 60000;
      },
      [
        {
          path: 'spec.analysis.intervalMs',
          message: 'set either interval or intervalMs, not both',
        },
      ],
    ],
    [
      'metric thresholds',
      (x) =>
        (x.spec.analysis.metrics = [
          { name: 'request-success-rate', thresholdRange: { min: 99, max: 101 } },
          { name: 'request-duration', thresholdRange: { min: 500, max: 100 } },
          { name: 'error-rate', thresholdRange: { max: 1 } },
          { name: 'request-duration', thresholdRange: {} },
        ]),
      [
        {
          path: 'spec.analysis.metrics[0].thresholdRange.max',
          message: 'is a percentage: must be between 0 and 100 (got 101)',
        },
        {
          path: 'spec.analysis.metrics[1].thresholdRange.min',
          message: 'must not exceed max (100)',
        },
        {
          path: 'spec.analysis.metrics[2].templateRef',
          message:
            'is required: "error-rate" is not a built-in metric (request-success-rate, request-duration)',
        },
        { path: 'spec.analysis.metrics[3].name', message: 'duplicates metric "request-duration"' },
        { path: 'spec.analysis.metrics[3].thresholdRange', message: 'must set min, max or both' },
      ],
    ],
    [
      'webhook type and url',
      (x) =>
        (x.spec.analysis.webhooks = [
          { name: 'gate', type: 'confirm-promote', url: 'ftp://x' },
          { name: 'gate', url: 'http://x/', timeout: '0s' },
        ]),
      [
        {
          path: 'spec.analysis.webhooks[0].type',
          message:
            'must be one of: confirm-rollout, pre-rollout, rollout, confirm-traffic-increase, confirm-promotion, post-rollout, rollback, event (got "confirm-promote")',
        },
        {
          path: 'spec.analysis.webhooks[0].url',
          message: 'must be an absolute http or https URL (got "ftp://x")',
        },
        { path: 'spec.analysis.webhooks[1].name', message: 'duplicates webhook "gate"' },
        { path: 'spec.analysis.webhooks[1].timeout', message: 'must be longer than 0s' },
      ],
    ],
    [
      'names are DNS-1123',
      (x) => {
        x.metadata.name = 'PodInfo';
        x.spec.targetRef.name = 'a'.repeat(56);
      },
      [
        {
          path: 'metadata.name',
          message: `must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit (got "PodInfo")`,
        },
        {
          path: 'spec.targetRef.name',
          message: 'must be at most 55 characters, so that "<name>-primary" fits in 63 (got 56)',
        },
      ],
    ],
    [
      'required fields',
      (x) => {
        delete x.spec.service.port;
        delete x.spec.targetRef.kind;
      },
      [
        { path: 'spec.targetRef.kind', message: 'is required' },
        { path: 'spec.service.port', message: 'is required' },
      ],
    ],
    [
      'targetRef kind',
      (x) => (x.spec.targetRef.kind = 'StatefulSet'),
      [
        {
          path: 'spec.targetRef.kind',
          message: 'must be one of: Deployment, DaemonSet (got "StatefulSet")',
        },
      ],
    ],
    [
      'fields no command carries are refused, not ignored',
      (x) => {
        x.spec.targetRef.kind = 'DaemonSet';
        x.spec.revertOnDeletion = true;
        x.spec.metricsServer = 'http://prometheus:9090';
        x.spec.service.timeout = '30s';
        x.spec.service.headers = { request: { add: { a: 'b' } } };
        x.spec.service.portDiscovery = true;
        x.spec.service.apex = { labels: { a: 'b' } };
      },
      [
        {
          path: 'spec.targetRef.kind',
          message:
            'not supported by Aviary yet: DaemonSet targets (the cluster agent bootstraps Deployments only)',
        },
        {
          path: 'spec.service.portDiscovery',
          message:
            'not supported by Aviary yet: portDiscovery (the generated Services expose service.port only)',
        },
        {
          path: 'spec.service.timeout',
          message:
            'not supported by Aviary yet: timeout (the routing objects carry no request timeout)',
        },
        {
          path: 'spec.service.headers',
          message:
            'not supported by Aviary yet: headers (the routing objects carry no header operations)',
        },
        {
          path: 'spec.service.apex',
          message:
            'not supported by Aviary yet: apex (the generated objects carry no extra labels or annotations)',
        },
        {
          path: 'spec.metricsServer',
          message:
            'not supported by Aviary yet: metricsServer (built-in metrics use the analyzer’s Prometheus; a MetricTemplate sets its own provider.address)',
        },
        {
          path: 'spec.revertOnDeletion',
          message:
            'not supported by Aviary yet: revertOnDeletion (deleting a Rollout leaves the primary, its Services and routing object in place)',
        },
      ],
    ],
    [
      'an nginx apex Ingress must be named after the apex Service',
      (x) => {
        x.spec.provider = 'nginx';
        x.spec.ingressRef = { name: 'podinfo-ingress' };
      },
      [
        {
          path: 'spec.ingressRef.name',
          message:
            'not supported by Aviary yet: an apex Ingress not named after the apex Service (the cluster agent reads Ingress podinfo; got podinfo-ingress)',
        },
      ],
    ],
    [
      'KEDA scalers are refused, not ignored',
      (x) => {
        x.spec.autoscalerRef = {
          kind: 'ScaledObject',
          name: 'podinfo-so',
          primaryScalerQueries: { 'prom-trigger': 'sum(rate(http_requests_total[1m]))' },
        };
      },
      [
        {
          path: 'spec.autoscalerRef.kind',
          message:
            'not supported by Aviary yet: KEDA ScaledObject (the cluster agent copies only a HorizontalPodAutoscaler as <name>-primary)',
        },
        {
          path: 'spec.autoscalerRef.primaryScalerQueries',
          message:
            'not supported by Aviary yet: primaryScalerQueries (KEDA trigger queries of a ScaledObject copy)',
        },
      ],
    ],
    [
      'primaryScalerQueries is refused with an HPA too',
      (x) => {
        x.spec.autoscalerRef = {
          kind: 'HorizontalPodAutoscaler',
          name: 'podinfo',
          primaryScalerQueries: {},
        };
      },
      [
        {
          path: 'spec.autoscalerRef.primaryScalerQueries',
          message:
            'not supported by Aviary yet: primaryScalerQueries (KEDA trigger queries of a ScaledObject copy)',
        },
      ],
    ],
    [
      'primaryScalerReplicas bounds',
      (x) => {
        x.spec.autoscalerRef = {
          kind: 'HorizontalPodAutoscaler',
          name: 'podinfo',
          primaryScalerReplicas: { minReplicas: 5, maxReplicas: 2 },
        };
      },
      [
        {
          path: 'spec.autoscalerRef.primaryScalerReplicas.minReplicas',
          message: 'must not exceed maxReplicas (2)',
        },
      ],
    ],
  ];

  it.each(cases)('%s', (_name, patch, expected) => {
    expect(issuesOf(() => validateRollout(minimal(patch)))).toEqual(expected);
  });

  it('rejects unknown fields at every level, suggesting near misses', () => {
    const issues = issuesOf(() =>
      validateRollout(
        minimal((x) => {
          x.extra = 1;
          x.spec.analysis.stepWieght = 20;
          x.spec.service.prot = 80;
          x.spec.analysis.metrics = [
            { name: 'request-duration', thresholdRange: { max: 500, mix: 1 } },
          ];
          x.spec.fleet = { waves: [{ name: 'a', clusters: ['c1'], bakeTime: '1h' }] };
        }),
      ),
    );
    expect(issues).toEqual([
      { path: 'extra', message: 'unknown field' },
      { path: 'spec.service.prot', message: 'unknown field (did you mean "port"?)' },
      { path: 'spec.analysis.stepWieght', message: 'unknown field (did you mean "stepWeight"?)' },
      {
        path: 'spec.analysis.metrics[0].thresholdRange.mix',
        message: 'unknown field (did you mean "min"?)',
      },
      { path: 'spec.fleet.waves[0].bakeTime', message: 'unknown field' },
    ]);
  });

  it('throws a ValidationError naming the resource and every issue', () => {
    const error = (() => {
      try {
        validateRollout({ apiVersion: 'v1', kind: 'Rollout' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toBe(
      'invalid Rollout: apiVersion: must be one of: aviary.dev/v1alpha1 (got "v1"); metadata: is required; spec: is required',
    );
  });

  it('rejects values that are not objects', () => {
    expect(issuesOf(() => validateRollout('nope'))).toEqual([
      { path: '', message: 'must be an object' },
    ]);
  });
});

describe('fleet block', () => {
  it('rejects duplicate wave names, a cluster in two waves, both clusters and selector, duplicate selectors', () => {
    const issues = issuesOf(() =>
      validateRollout(
        minimal((x) => {
          x.spec.fleet = {
            waves: [
              { name: 'canary', clusters: ['eu-1'] },
              { name: 'canary', clusters: ['eu-2', 'eu-1'] },
              { name: 'rest', clusters: ['us-1'], selector: { matchLabels: { env: 'prod' } } },
              { name: 'eu', selector: { matchLabels: { region: 'eu' } } },
              { name: 'eu-again', selector: { matchLabels: { region: 'eu' } }, maxParallel: 0 },
            ],
          };
        }),
      ),
    );
    expect(issues).toEqual([
      { path: 'spec.fleet.waves[1].name', message: 'duplicates the name of waves[0]' },
      {
        path: 'spec.fleet.waves[1].clusters[1]',
        message: 'cluster eu-1 is already in wave canary: a cluster belongs to one wave',
      },
      { path: 'spec.fleet.waves[2]', message: 'must set exactly one of clusters and selector' },
      {
        path: 'spec.fleet.waves[4].selector',
        message: "is the same as wave eu's: it would select no cluster",
      },
      { path: 'spec.fleet.waves[4].maxParallel', message: 'must be at least 1 (got 0)' },
    ]);
  });

  it('validates freeze windows', () => {
    const issues = issuesOf(() =>
      validateRollout(
        minimal((x) => {
          x.spec.fleet = {
            freezeWindows: [
              { start: '2026-12-27T00:00:00Z', end: '2026-12-24T00:00:00Z' },
              { start: '2026-12-24', end: '2026-12-27T00:00:00Z' },
              { weekly: { start: 'Fri 18:00', end: 'Fri 18:00' } },
              { weekly: { start: 'Friday 18:00', end: 'Mon 8:00' } },
            ],
          };
        }),
      ),
    );
    expect(issues).toEqual([
      { path: 'spec.fleet.freezeWindows[0].end', message: 'must be after start' },
      {
        path: 'spec.fleet.freezeWindows[1].start',
        message:
          'must be an RFC 3339 timestamp with an offset, e.g. 2026-12-24T00:00:00Z (got "2026-12-24")',
      },
      { path: 'spec.fleet.freezeWindows[2].weekly.end', message: 'must differ from start' },
      {
        path: 'spec.fleet.freezeWindows[3].weekly.start',
        message: 'must be a weekday and a 24-hour time such as "Fri 18:00" (got "Friday 18:00")',
      },
      {
        path: 'spec.fleet.freezeWindows[3].weekly.end',
        message: 'must be a weekday and a 24-hour time such as "Fri 18:00" (got "Mon 8:00")',
      },
    ]);
  });
});

describe('round trip', () => {
  it('validate(validate(x)) equals validate(x) for a spec using every block', () => {
    const once = validateRollout(
      minimal((x) => {
        x.metadata.labels = { team: 'web' };
        x.spec.autoscalerRef = {
          kind: 'HorizontalPodAutoscaler',
          name: 'podinfo',
          primaryScalerReplicas: { minReplicas: 2 },
        };
        x.spec.service = {
          port: 80,
          targetPort: 'http',
          hosts: ['app.example.com'],
          gateways: ['istio-system/public'],
        };
        x.spec.analysis = {
          interval: '30s',
          stepWeights: [5, 25, 50],
          mirror: true,
          mirrorWeight: 20,
          sessionAffinity: { cookieName: 'flagger-cookie', sameSite: 'Lax' },
          metrics: [
            {
              name: 'latency',
              templateRef: { name: 'latency', namespace: 'metrics' },
              templateVariables: { q: '0.99' },
              thresholdRange: { max: 500 },
              interval: '2m',
            },
          ],
          webhooks: [
            {
              name: 'gate',
              type: 'confirm-promotion',
              url: 'http://gate/',
              metadata: { a: 'b' },
              timeout: '15s',
            },
          ],
        };
        x.spec.fleet = {
          failurePolicy: 'halt-and-revert',
          waves: [
            { name: 'canary', clusters: ['eu-1'], bake: '1h' },
            { name: 'rest', selector: { matchLabels: { env: 'prod' } }, maxParallel: 'all' },
          ],
          freezeWindows: [
            { name: 'xmas', start: '2026-12-24T00:00:00+01:00', end: '2026-12-27T00:00:00Z' },
            { weekly: { start: 'fri 18:00', end: 'Mon 08:00', utcOffset: 'Z' } },
          ],
        };
      }),
    );
    expect(once.spec.analysis.maxWeight).toBe(50);
    expect(once.spec.fleet.freezeWindows).toEqual([
      {
        name: 'xmas',
        startMs: Date.parse('2026-12-23T23:00:00Z'),
        endMs: Date.parse('2026-12-27T00:00:00Z'),
      },
      { weekly: { start: 'Fri 18:00', end: 'Mon 08:00', utcOffset: '+00:00' } },
    ]);
    const twice = validateRollout(JSON.parse(JSON.stringify(once)));
    expect(twice).toEqual(once);
  });

  it('shares nothing with its input', () => {
    const input = minimal((x) => (x.spec.service.hosts = ['app.example.com']));
    const out = validateRollout(input);
    input.spec.service.hosts[0] = 'other.example.com';
    expect(out.spec.service.hosts).toEqual(['app.example.com']);
  });
});
