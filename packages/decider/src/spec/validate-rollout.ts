import { ValidationError } from '@aviary/core';
import { parseRfc3339Ms, parseUtcOffset, parseWeekTime } from './freeze-window.ts';
import { dnsLabel, dnsSubdomain, labelKey, labelValue, workloadName } from './names.ts';
import {
  checkInteger,
  copyJson,
  type Fields,
  IssueList,
  isPlainObject,
  type JsonObject,
  readObject,
} from './reader.ts';
import {
  deriveStrategy,
  routerOf,
  supportsMatch,
  supportsMirror,
  supportsSessionAffinity,
} from './strategy.ts';
import {
  type Alert,
  type Analysis,
  API_VERSION,
  AutoscalerKind,
  type AutoscalerRef,
  BuiltinMetric,
  ROLLOUT_DEFAULTS as D,
  FailurePolicy,
  type Fleet,
  type FreezeWindow,
  type GatewayRef,
  type GeneratedMetadata,
  KIND,
  type Metric,
  type MetricJudge,
  type ObjectRef,
  Provider,
  type Rollout,
  type RolloutMetadata,
  RouterKind,
  type ServiceSpec,
  type SessionAffinity,
  Strategy,
  TargetKind,
  type TargetRef,
  type Wave,
  type Webhook,
  WebhookType,
} from './types.ts';

/**
 * Validates and normalizes a Rollout resource (already parsed from YAML or JSON). Every problem
 * is collected with its path, unknown fields included, and reported at once as a
 * `ValidationError`; on success the result has every default applied and shares nothing with the
 * input. Idempotent: `validateRollout(validateRollout(x))` equals `validateRollout(x)`.
 */
export function validateRollout(value: unknown): Rollout {
  const issues = new IssueList();
  const rollout = readRollout(issues, value);
  if (issues.size > 0 || rollout === undefined) {
    throw new ValidationError('invalid Rollout', issues.items);
  }
  return rollout;
}

/** As `validateRollout`, but reports into `issues` (for importers that add their own). */
export function readRollout(issues: IssueList, value: unknown): Rollout | undefined {
  const root = readObject(issues, value, '', ['apiVersion', 'kind', 'metadata', 'spec']);
  if (root === undefined) return undefined;
  const before = issues.size;
  root.oneOf('apiVersion', [API_VERSION], true);
  root.oneOf('kind', [KIND], true);
  const metadata = readMetadata(root);
  const specFields = root.object('spec', SPEC_KEYS, true);
  const spec = specFields === undefined ? undefined : readSpec(specFields, metadata?.namespace);
  if (issues.size > before || metadata === undefined || spec === undefined) return undefined;
  return { apiVersion: API_VERSION, kind: KIND, metadata, spec };
}

const SPEC_KEYS = [
  'targetRef',
  'provider',
  'service',
  'ingressRef',
  'autoscalerRef',
  'metricsServer',
  'progressDeadlineSeconds',
  'skipAnalysis',
  'suspend',
  'revertOnDeletion',
  'strategy',
  'analysis',
  'fleet',
] as const;

const ANALYSIS_KEYS = [
  'interval',
  'intervalMs',
  'threshold',
  'maxWeight',
  'stepWeight',
  'stepWeights',
  'stepWeightPromotion',
  'iterations',
  'match',
  'mirror',
  'mirrorWeight',
  'sessionAffinity',
  'canaryReadyThreshold',
  'primaryReadyThreshold',
  'maxHeldChecks',
  'resultTimeout',
  'resultTimeoutMs',
  'metrics',
  'webhooks',
  'alerts',
] as const;

function readMetadata(root: Fields): RolloutMetadata | undefined {
  const f = root.object('metadata', ['name', 'namespace', 'labels', 'annotations'], true);
  if (f === undefined) return undefined;
  const name = f.string('name', { required: true, check: dnsLabel() });
  const namespace = f.string('namespace', { check: dnsLabel() }) ?? D.namespace;
  const labels = f.stringMap('labels', labelPair) ?? {};
  const annotations = f.stringMap('annotations') ?? {};
  if (name === undefined) return undefined;
  return { name, namespace, labels, annotations };
}

function labelPair(key: string, value: string): string | undefined {
  return labelKey(key) ?? labelValue(value);
}

function readSpec(f: Fields, namespace: string = D.namespace): Rollout['spec'] | undefined {
  const issues = f.issues;
  const before = issues.size;
  const targetRef = readTargetRef(f);
  const provider = readProvider(f);
  const router = provider === undefined ? undefined : routerOf(provider);
  const service = readService(f, targetRef?.name, router);
  const ingressRef = readRef(f, 'ingressRef', ['Ingress'], 'networking.k8s.io/v1');
  if (router !== undefined && router !== RouterKind.Nginx && f.has('ingressRef')) {
    issues.add(f.at('ingressRef'), 'is used only by the nginx provider');
  }
  if (router === RouterKind.Nginx && !f.has('ingressRef')) {
    issues.add(f.at('ingressRef'), 'is required with the nginx provider');
  }
  if (
    router === RouterKind.Nginx &&
    ingressRef !== undefined &&
    service !== undefined &&
    ingressRef.name !== service.name
  ) {
    issues.add(
      `${f.at('ingressRef')}.name`,
      `not supported by Aviary yet: an apex Ingress not named after the apex Service (the cluster agent reads Ingress ${service.name}; got ${ingressRef.name})`,
    );
  }
  const autoscalerRef = readAutoscalerRef(f);
  const metricsServer = f.string('metricsServer', { check: httpUrl });
  if (f.has('metricsServer')) {
    issues.add(
      f.at('metricsServer'),
      'not supported by Aviary yet: metricsServer (built-in metrics use the analyzer’s Prometheus; a MetricTemplate sets its own provider.address)',
    );
  }
  const progressDeadlineSeconds =
    f.integer('progressDeadlineSeconds', { min: 1, max: 2_147_483_647 }) ??
    D.progressDeadlineSeconds;
  const analysisGiven = f.has('analysis');
  // Flagger: no analysis block means the analysis is skipped.
  const skipAnalysis = f.boolean('skipAnalysis', false) || !analysisGiven;
  const suspend = f.boolean('suspend', false);
  const revertOnDeletion = f.boolean('revertOnDeletion', false);
  if (revertOnDeletion) {
    issues.add(
      f.at('revertOnDeletion'),
      'not supported by Aviary yet: revertOnDeletion (deleting a Rollout leaves the primary, its Services and routing object in place)',
    );
  }
  const analysis = readAnalysis(f, namespace, router, skipAnalysis);
  const strategy = analysis === undefined ? undefined : deriveStrategy(analysis);
  const givenStrategy = f.oneOf('strategy', Object.values(Strategy));
  if (givenStrategy !== undefined && strategy !== undefined && givenStrategy !== strategy) {
    issues.add(
      f.at('strategy'),
      `is derived from the analysis block and would be ${strategy}, not ${givenStrategy}`,
    );
  }
  const fleet = readFleet(f);
  if (
    issues.size > before ||
    targetRef === undefined ||
    provider === undefined ||
    service === undefined ||
    analysis === undefined ||
    strategy === undefined ||
    fleet === undefined
  ) {
    return undefined;
  }
  return {
    targetRef,
    provider,
    service,
    ...(ingressRef !== undefined ? { ingressRef } : {}),
    ...(autoscalerRef !== undefined ? { autoscalerRef } : {}),
    ...(metricsServer !== undefined ? { metricsServer } : {}),
    progressDeadlineSeconds,
    skipAnalysis,
    suspend,
    revertOnDeletion,
    strategy,
    analysis,
    fleet,
  };
}

function readTargetRef(f: Fields): TargetRef | undefined {
  const t = f.object('targetRef', ['apiVersion', 'kind', 'name'], true);
  if (t === undefined) return undefined;
  const apiVersion = t.oneOf('apiVersion', ['apps/v1']) ?? 'apps/v1';
  const kind = t.oneOf('kind', Object.values(TargetKind), true);
  if (kind === TargetKind.DaemonSet) {
    t.issues.add(
      t.at('kind'),
      'not supported by Aviary yet: DaemonSet targets (the cluster agent bootstraps Deployments only)',
    );
  }
  const name = t.string('name', { required: true, check: workloadName });
  if (kind === undefined || name === undefined) return undefined;
  return { apiVersion, kind, name };
}

function readRef<K extends string>(
  f: Fields,
  key: string,
  kinds: readonly K[],
  defaultApiVersion: string,
): ObjectRef<K> | undefined {
  const r = f.object(key, ['apiVersion', 'kind', 'name']);
  if (r === undefined) return undefined;
  const apiVersion = r.string('apiVersion', { required: false }) ?? defaultApiVersion;
  const kind = r.oneOf('kind', kinds) ?? kinds[0];
  const name = r.string('name', { required: true, check: dnsSubdomain });
  if (kind === undefined || name === undefined) return undefined;
  return { apiVersion, kind, name };
}

const SMI_PROVIDER = /^smi:v1alpha[123](:[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/;
const FLAGGER_ONLY_PROVIDERS = [
  'apisix',
  'appmesh',
  'appmesh:v1beta2',
  'contour',
  'gloo',
  'knative',
  'kuma',
  'osm',
  'skipper',
  'traefik',
];

function readProvider(f: Fields): Provider | undefined {
  const value = f.raw('provider');
  if (value === undefined) return D.provider;
  const known: readonly string[] = Object.values(Provider);
  if (value === 'none') return Provider.Kubernetes;
  if (typeof value === 'string' && (known.includes(value) || SMI_PROVIDER.test(value))) {
    return value as Provider;
  }
  const list = [...known, 'none'].join(', ');
  const flaggerOnly = typeof value === 'string' && FLAGGER_ONLY_PROVIDERS.includes(value);
  f.issues.add(
    f.at('provider'),
    flaggerOnly
      ? `router ${value} is not supported by Aviary (supported: ${list})`
      : `must be one of: ${list} (got ${JSON.stringify(value)})`,
  );
  return undefined;
}

const SERVICE_KEYS = [
  'name',
  'port',
  'portName',
  'targetPort',
  'appProtocol',
  'portDiscovery',
  'headless',
  'trafficDistribution',
  'timeout',
  'timeoutMs',
  'backendTimeout',
  'backendTimeoutMs',
  'gateways',
  'gatewayRefs',
  'hosts',
  'delegation',
  'match',
  'trafficPolicy',
  'rewrite',
  'retries',
  'headers',
  'mirror',
  'corsPolicy',
  'apex',
  'primary',
  'canary',
  'unmanagedMetadata',
] as const;

function readService(
  f: Fields,
  targetName: string | undefined,
  router: RouterKind | undefined,
): ServiceSpec | undefined {
  const s = f.object('service', SERVICE_KEYS, true);
  if (s === undefined) return undefined;
  const before = s.issues.size;
  const name = s.string('name', { check: workloadName }) ?? targetName;
  const port = s.integer('port', { min: 1, max: 65_535, required: true });
  const portName = s.string('portName', { check: dnsLabel(15) }) ?? D.portName;
  let targetPort: number | string | undefined = port;
  const rawTarget = s.raw('targetPort');
  if (typeof rawTarget === 'string') {
    targetPort = s.string('targetPort', { check: dnsLabel(15) });
  } else if (rawTarget !== undefined) {
    targetPort = s.integer('targetPort', { min: 1, max: 65_535 });
  }
  const appProtocol = s.string('appProtocol');
  const trafficDistribution = s.oneOf('trafficDistribution', [
    'PreferClose',
    'PreferSameZone',
    'PreferSameNode',
  ] as const);
  const timeoutMs = s.duration('timeout', 'timeoutMs');
  const backendTimeoutMs = s.duration('backendTimeout', 'backendTimeoutMs');
  const gateways =
    s.stringList('gateways') ?? (router === RouterKind.Istio ? [...D.istioGateways] : []);
  const gatewayRefs = readGatewayRefs(s);
  if (router === RouterKind.GatewayApi && gatewayRefs.length === 0) {
    s.issues.add(s.at('gatewayRefs'), 'is required with the gatewayapi provider (at least one)');
  }
  const hosts = s.stringList('hosts') ?? [];
  const delegation = s.boolean('delegation', false);
  const match = readMatchList(s, 'match');
  const passThrough = {
    trafficPolicy: s.json('trafficPolicy'),
    rewrite: s.json('rewrite'),
    retries: s.json('retries'),
    headers: s.json('headers'),
    mirror: s.json('mirror'),
    corsPolicy: s.json('corsPolicy'),
  };
  const apex = readGeneratedMetadata(s, 'apex');
  const primary = readGeneratedMetadata(s, 'primary');
  const canary = readGeneratedMetadata(s, 'canary');
  const unmanaged = s.object('unmanagedMetadata', ['labels', 'annotations']);
  const unmanagedMetadata =
    unmanaged === undefined
      ? undefined
      : {
          labels: unmanaged.stringList('labels') ?? [],
          annotations: unmanaged.stringList('annotations') ?? [],
        };
  refuseUnsupported(s, UNSUPPORTED_SERVICE_FIELDS);
  if (s.issues.size > before || name === undefined || port === undefined) return undefined;
  if (targetPort === undefined) return undefined;
  const defined = Object.fromEntries(
    Object.entries(passThrough).filter(([, v]) => v !== undefined),
  ) as Partial<ServiceSpec>;
  return {
    name,
    port,
    portName,
    targetPort,
    ...(appProtocol !== undefined ? { appProtocol } : {}),
    portDiscovery: s.boolean('portDiscovery', false),
    headless: s.boolean('headless', false),
    ...(trafficDistribution !== undefined ? { trafficDistribution } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(backendTimeoutMs !== undefined ? { backendTimeoutMs } : {}),
    gateways,
    gatewayRefs,
    hosts,
    delegation,
    match,
    ...defined,
    ...(apex !== undefined ? { apex } : {}),
    ...(primary !== undefined ? { primary } : {}),
    ...(canary !== undefined ? { canary } : {}),
    ...(unmanagedMetadata !== undefined ? { unmanagedMetadata } : {}),
  };
}

/**
 * Flagger `spec.service` fields no cluster agent command carries yet (the agent's Services and
 * routing objects are generated from `InitializeTarget.service`: name, ports, hosts, gateways,
 * gatewayRefs). Given, they are refused: a spec is applied whole or not at all. Their defaults
 * (`false`, an empty list) pass.
 */
export const UNSUPPORTED_SERVICE_FIELDS: Readonly<Record<string, string>> = {
  appProtocol: 'the generated Services carry no appProtocol',
  portDiscovery: 'the generated Services expose service.port only',
  headless: 'the generated Services are ClusterIP Services',
  trafficDistribution: 'the generated Services carry no trafficDistribution',
  timeout: 'the routing objects carry no request timeout',
  timeoutMs: 'the routing objects carry no request timeout',
  backendTimeout: 'the routing objects carry no backend timeout',
  backendTimeoutMs: 'the routing objects carry no backend timeout',
  delegation: 'Istio VirtualService delegation',
  match: 'the routing objects carry no service-level match (analysis.match is supported)',
  trafficPolicy: 'the routers write no DestinationRule trafficPolicy',
  rewrite: 'the routing objects carry no URI rewrite',
  retries: 'the routing objects carry no retry policy',
  headers: 'the routing objects carry no header operations',
  mirror: 'the routing objects carry no service-level mirror (analysis.mirror is supported)',
  corsPolicy: 'the routing objects carry no CORS policy',
  apex: 'the generated objects carry no extra labels or annotations',
  primary: 'the generated objects carry no extra labels or annotations',
  canary: 'the generated objects carry no extra labels or annotations',
  unmanagedMetadata: 'the agent does not merge unmanaged metadata',
};

/** Adds a "not supported by Aviary yet" issue for each given field of `unsupported`. */
function refuseUnsupported(f: Fields, unsupported: Readonly<Record<string, string>>): void {
  for (const [key, why] of Object.entries(unsupported)) {
    const value = f.raw(key);
    // Defaults pass, so that a normalized spec validates again (`validate(validate(x))`).
    if (value === undefined || value === false) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    f.issues.add(f.at(key), `not supported by Aviary yet: ${key} (${why})`);
  }
}

function readGatewayRefs(s: Fields): GatewayRef[] {
  const out: GatewayRef[] = [];
  for (const item of s.list('gatewayRefs') ?? []) {
    const g = readObject(s.issues, item.value, item.path, [
      'name',
      'namespace',
      'sectionName',
      'port',
      'group',
      'kind',
    ]);
    if (g === undefined) continue;
    const name = g.string('name', { required: true, check: dnsSubdomain });
    const namespace = g.string('namespace', { check: dnsLabel() });
    const sectionName = g.string('sectionName', { check: dnsSubdomain });
    const port = g.integer('port', { min: 1, max: 65_535 });
    const group = g.string('group');
    const kind = g.string('kind');
    if (name === undefined) continue;
    out.push({
      name,
      ...(namespace !== undefined ? { namespace } : {}),
      ...(sectionName !== undefined ? { sectionName } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(group !== undefined ? { group } : {}),
      ...(kind !== undefined ? { kind } : {}),
    });
  }
  return out;
}

function readGeneratedMetadata(s: Fields, key: string): GeneratedMetadata | undefined {
  const m = s.object(key, ['labels', 'annotations']);
  if (m === undefined) return undefined;
  return {
    labels: m.stringMap('labels', labelPair) ?? {},
    annotations: m.stringMap('annotations') ?? {},
  };
}

const MATCH_KEYS = [
  'name',
  'uri',
  'scheme',
  'method',
  'authority',
  'headers',
  'port',
  'sourceLabels',
  'gateways',
  'queryParams',
  'ignoreUriCase',
  'withoutHeaders',
  'sourceNamespace',
  'statPrefix',
];
const STRING_MATCH_KEYS = ['exact', 'prefix', 'suffix', 'regex'];

/** Istio HTTPMatchRequest entries; the string matchers are checked, the rest copied. */
function readMatchList(f: Fields, key: string): JsonObject[] {
  const out: JsonObject[] = [];
  for (const item of f.list(key) ?? []) {
    const m = readObject(f.issues, item.value, item.path, MATCH_KEYS);
    if (m === undefined) continue;
    for (const k of ['uri', 'scheme', 'method', 'authority']) checkStringMatch(m, k);
    for (const k of ['headers', 'queryParams', 'withoutHeaders']) {
      const map = m.raw(k);
      if (map === undefined) continue;
      if (!isPlainObject(map)) {
        f.issues.add(m.at(k), 'must be a map of string matches');
        continue;
      }
      const inner = readObject(f.issues, map, m.at(k), Object.keys(map));
      for (const name of Object.keys(map)) if (inner) checkStringMatch(inner, name);
    }
    const copy = copyJson(f.issues, item.value, item.path);
    if (isPlainObject(copy)) out.push(copy as JsonObject);
  }
  return out;
}

function checkStringMatch(f: Fields, key: string): void {
  const m = f.object(key, STRING_MATCH_KEYS);
  if (m === undefined) return;
  const set = STRING_MATCH_KEYS.filter((k) => m.has(k));
  if (set.length !== 1) {
    f.issues.add(f.at(key), `must set exactly one of: ${STRING_MATCH_KEYS.join(', ')}`);
    return;
  }
  for (const k of set) m.string(k);
}

function readAutoscalerRef(f: Fields): AutoscalerRef | undefined {
  const a = f.object('autoscalerRef', [
    'apiVersion',
    'kind',
    'name',
    'primaryScalerQueries',
    'primaryScalerReplicas',
  ]);
  if (a === undefined) return undefined;
  const kind = a.oneOf('kind', Object.values(AutoscalerKind), true);
  const apiVersion =
    a.string('apiVersion') ??
    (kind === AutoscalerKind.ScaledObject ? 'keda.sh/v1alpha1' : 'autoscaling/v2');
  const name = a.string('name', { required: true, check: dnsSubdomain });
  // Accepted-and-ignored is never an option: what the cluster agent cannot apply is refused.
  if (kind === AutoscalerKind.ScaledObject) {
    a.issues.add(
      a.at('kind'),
      'not supported by Aviary yet: KEDA ScaledObject (the cluster agent copies only a HorizontalPodAutoscaler as <name>-primary)',
    );
  }
  if (a.has('primaryScalerQueries')) {
    a.stringMap('primaryScalerQueries');
    a.issues.add(
      a.at('primaryScalerQueries'),
      'not supported by Aviary yet: primaryScalerQueries (KEDA trigger queries of a ScaledObject copy)',
    );
  }
  const replicas = a.object('primaryScalerReplicas', ['minReplicas', 'maxReplicas']);
  const minReplicas = replicas?.integer('minReplicas', { min: 0 });
  const maxReplicas = replicas?.integer('maxReplicas', { min: 1 });
  if (minReplicas !== undefined && maxReplicas !== undefined && minReplicas > maxReplicas) {
    a.issues.add(
      `${a.at('primaryScalerReplicas')}.minReplicas`,
      `must not exceed maxReplicas (${maxReplicas})`,
    );
  }
  if (kind === undefined || name === undefined) return undefined;
  return {
    apiVersion,
    kind,
    name,
    ...(replicas !== undefined
      ? {
          primaryScalerReplicas: {
            ...(minReplicas !== undefined ? { minReplicas } : {}),
            ...(maxReplicas !== undefined ? { maxReplicas } : {}),
          },
        }
      : {}),
  };
}

function readAnalysis(
  f: Fields,
  namespace: string,
  router: RouterKind | undefined,
  skipAnalysis: boolean,
): Analysis | undefined {
  const a =
    f.raw('analysis') === undefined
      ? readObject(f.issues, {}, f.at('analysis'), [])
      : f.object('analysis', ANALYSIS_KEYS);
  if (a === undefined) return undefined;
  const issues = a.issues;
  const before = issues.size;
  const rawInterval = a.duration('interval', 'intervalMs') ?? D.intervalMs;
  // Flagger's `interval` keeps Flagger's 10 s floor; Aviary's own `intervalMs` may go down to 1 s
  // (simulated fleets, end-to-end tests: every decision still goes through recorded ticks).
  const floorMs = a.raw('intervalMs') === undefined ? D.minIntervalMs : D.minIntervalMsAviary;
  const intervalMs = Math.max(rawInterval, floorMs);
  const threshold = a.integer('threshold', { min: 1 }) ?? D.threshold;
  const givenStepWeight = a.integer('stepWeight', { min: 0, max: 100 });
  const stepWeight = givenStepWeight ?? 0;
  const stepWeights = readStepWeights(a);
  const stepWeightPromotion = a.integer('stepWeightPromotion', { min: 0, max: 100 }) ?? 0;
  const givenIterations = a.integer('iterations', { min: 0 });
  const iterations = givenIterations ?? 0;
  // Strategy rules only speak about fields that were read; a bad value is reported once.
  const strategyFieldsRead =
    (givenStepWeight !== undefined || !a.has('stepWeight')) &&
    (givenIterations !== undefined || !a.has('iterations'));
  const match = readMatchList(a, 'match');
  const mirror = a.boolean('mirror', false);
  const mirrorWeight = a.integer('mirrorWeight', { min: 0, max: 100 }) ?? 0;
  const sessionAffinity = readSessionAffinity(a);
  const canaryReadyThreshold =
    a.integer('canaryReadyThreshold', { min: 0, max: 100 }) ?? D.readyThresholdPercent;
  const primaryReadyThreshold =
    a.integer('primaryReadyThreshold', { min: 0, max: 100 }) ?? D.readyThresholdPercent;
  const maxHeldChecks = a.integer('maxHeldChecks', { min: 1 }) ?? D.maxHeldChecks;
  // Aviary: results may come after the next tick (a provider's ingestion delay); see Analysis.
  const givenResultTimeout = a.duration('resultTimeout', 'resultTimeoutMs');
  if (givenResultTimeout !== undefined && givenResultTimeout < intervalMs) {
    issues.add(
      a.at(a.has('resultTimeoutMs') ? 'resultTimeoutMs' : 'resultTimeout'),
      `must be at least the interval (${intervalMs / 1000}s): a result is awaited until the next tick at least`,
    );
  }
  const resultTimeoutMs = givenResultTimeout ?? intervalMs + D.resultTimeoutSlackMs;
  const metrics = readMetrics(a, namespace);
  const webhooks = readWebhooks(a);
  const alerts = readAlerts(a, namespace);

  // maxWeight: with stepWeights Flagger ignores it and uses min(100, last step); we normalize to
  // that and reject a different explicit value instead of ignoring it silently.
  const lastStep = stepWeights?.at(-1);
  const givenMaxWeight = a.integer('maxWeight', { min: 1, max: 100 });
  let maxWeight = givenMaxWeight ?? D.maxWeight;
  if (lastStep !== undefined) {
    if (givenMaxWeight !== undefined && givenMaxWeight !== lastStep) {
      issues.add(
        a.at('maxWeight'),
        `is ignored when stepWeights is set (the last step, ${lastStep}, is the maximum): remove it or set it to ${lastStep}`,
      );
    }
    maxWeight = lastStep;
  }

  // Strategy selection (Flagger's CRD allows exactly one of iterations, stepWeight, stepWeights).
  const steps = stepWeights ?? [];
  if (stepWeight > 0 && steps.length > 0) {
    issues.add(a.at('stepWeights'), 'set either stepWeight or stepWeights, not both');
  }
  if (iterations > 0 && (stepWeight > 0 || steps.length > 0)) {
    issues.add(
      a.at('iterations'),
      `selects blue/green or A/B testing, which ignore ${stepWeight > 0 ? 'stepWeight' : 'stepWeights'}: set one of iterations, stepWeight or stepWeights`,
    );
  }
  if (match.length > 0 && iterations === 0) {
    issues.add(a.at('match'), 'requires iterations (A/B testing)');
  }
  const strategy = deriveStrategy({ iterations, match, mirror });
  if (
    !skipAnalysis &&
    strategy === Strategy.Canary &&
    stepWeight === 0 &&
    stepWeights !== undefined &&
    strategyFieldsRead &&
    steps.length === 0
  ) {
    const what =
      router === RouterKind.None ? 'iterations' : 'stepWeight, stepWeights or iterations';
    issues.add(a.path, `must set ${what}: without them the canary never advances`);
  }
  if (router !== undefined) {
    if (
      router === RouterKind.None &&
      strategy === Strategy.Canary &&
      (stepWeight > 0 || steps.length > 0)
    ) {
      issues.add(
        a.at(stepWeight > 0 ? 'stepWeight' : 'stepWeights'),
        'needs a traffic router: provider kubernetes supports only blue/green (set iterations)',
      );
    }
    if (match.length > 0 && !supportsMatch(router)) {
      issues.add(a.at('match'), `is not supported by the ${router} router`);
    }
    if (match.length > 0 && router === RouterKind.Nginx) checkNginxMatch(a, match);
    if (mirror && !supportsMirror(router, strategy)) {
      issues.add(a.at('mirror'), mirrorProblem(router, strategy));
    }
    if (sessionAffinity !== undefined && !supportsSessionAffinity(router)) {
      issues.add(
        a.at('sessionAffinity'),
        `is not supported by the ${router} router (istio, gatewayapi)`,
      );
    }
    if (mirrorWeight > 0 && router !== RouterKind.Istio) {
      issues.add(a.at('mirrorWeight'), 'is supported only by the istio router');
    }
  }
  if (mirrorWeight > 0 && !mirror) issues.add(a.at('mirrorWeight'), 'requires mirror: true');
  if (sessionAffinity !== undefined && strategy !== Strategy.Canary) {
    issues.add(
      a.at('sessionAffinity'),
      `applies only to the canary strategy (this is ${strategy})`,
    );
  }
  if (
    issues.size > before ||
    stepWeights === undefined ||
    metrics === undefined ||
    webhooks === undefined ||
    alerts === undefined
  ) {
    return undefined;
  }
  return {
    intervalMs,
    threshold,
    maxWeight,
    stepWeight,
    stepWeights,
    stepWeightPromotion,
    iterations,
    match,
    mirror,
    mirrorWeight,
    ...(sessionAffinity !== undefined ? { sessionAffinity } : {}),
    canaryReadyThreshold,
    primaryReadyThreshold,
    maxHeldChecks,
    resultTimeoutMs,
    metrics,
    webhooks,
    alerts,
  };
}

function mirrorProblem(router: RouterKind, strategy: string): string {
  if (router === RouterKind.GatewayApi) {
    return `is supported by the gatewayapi router only for blue/green (this is ${strategy})`;
  }
  if (router === RouterKind.Istio) return 'has no effect with A/B testing';
  return `is not supported by the ${router} router (istio: canary and blue/green; gatewayapi: blue/green)`;
}

function checkNginxMatch(a: Fields, match: readonly JsonObject[]): void {
  match.forEach((m, i) => {
    for (const key of Object.keys(m)) {
      if (key !== 'headers') {
        a.issues.add(
          `${a.at('match')}[${i}].${key}`,
          'the nginx router matches only on headers (and the cookie header)',
        );
      }
    }
    const headers = m.headers;
    if (isPlainObject(headers)) {
      for (const [name, matcher] of Object.entries(headers)) {
        if (
          isPlainObject(matcher) &&
          (matcher.prefix !== undefined || matcher.suffix !== undefined)
        ) {
          a.issues.add(
            `${a.at('match')}[${i}].headers.${name}`,
            'the nginx router supports only exact and regex header matches',
          );
        }
      }
    }
  });
}

function readStepWeights(a: Fields): number[] | undefined {
  const items = a.list('stepWeights');
  if (items === undefined) return a.has('stepWeights') ? undefined : [];
  const out: number[] = [];
  let ok = true;
  let previous: number | undefined;
  for (const item of items) {
    const w = checkInteger(a.issues, item.value, item.path, { min: 1, max: 100 });
    if (w === undefined) {
      ok = false;
      previous = undefined;
      continue;
    }
    if (previous !== undefined && w <= previous) {
      a.issues.add(item.path, `must be greater than the previous step (${previous})`);
      ok = false;
    }
    previous = w;
    out.push(w);
  }
  return ok ? out : undefined;
}

function readSessionAffinity(a: Fields): SessionAffinity | undefined {
  const s = a.object('sessionAffinity', [
    'cookieName',
    'primaryCookieName',
    'domain',
    'httpOnly',
    'maxAge',
    'partitioned',
    'path',
    'sameSite',
    'secure',
  ]);
  if (s === undefined) return undefined;
  const cookieName = s.string('cookieName', { required: true, check: cookieToken });
  const primaryCookieName = s.string('primaryCookieName', { check: cookieToken });
  if (cookieName !== undefined && cookieName === primaryCookieName) {
    s.issues.add(s.at('primaryCookieName'), 'must differ from cookieName');
  }
  const domain = s.string('domain');
  const path = s.string('path');
  const sameSite = s.oneOf('sameSite', ['Strict', 'Lax', 'None'] as const);
  const maxAge = s.integer('maxAge', { min: 1 }) ?? D.sessionAffinityMaxAgeSeconds;
  if (cookieName === undefined) return undefined;
  return {
    cookieName,
    ...(primaryCookieName !== undefined ? { primaryCookieName } : {}),
    ...(domain !== undefined ? { domain } : {}),
    httpOnly: s.boolean('httpOnly', false),
    maxAge,
    partitioned: s.boolean('partitioned', false),
    ...(path !== undefined ? { path } : {}),
    ...(sameSite !== undefined ? { sameSite } : {}),
    secure: s.boolean('secure', false),
  };
}

const COOKIE_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
function cookieToken(value: string): string | undefined {
  return COOKIE_TOKEN.test(value)
    ? undefined
    : `must be a cookie name token (got ${JSON.stringify(value)})`;
}

function httpUrl(value: string): string | undefined {
  if (!URL.canParse(value))
    return `must be an absolute http or https URL (got ${JSON.stringify(value)})`;
  const protocol = new URL(value).protocol;
  return protocol === 'http:' || protocol === 'https:'
    ? undefined
    : `must be an absolute http or https URL (got ${JSON.stringify(value)})`;
}

/** A webhook's URL: http(s), or `aviary-gate:<gate>`, a manual gate of the application. */
function webhookUrl(value: string): string | undefined {
  if (value.startsWith('aviary-gate:')) {
    return /^aviary-gate:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value)
      ? undefined
      : `must name a gate that is a DNS label, e.g. aviary-gate:approve-eu (got ${JSON.stringify(value)})`;
  }
  return httpUrl(value);
}

const BUILTINS: readonly string[] = Object.values(BuiltinMetric);

function readMetrics(a: Fields, namespace: string): Metric[] | undefined {
  const items = a.list('metrics');
  if (items === undefined) return a.has('metrics') ? undefined : [];
  const out: Metric[] = [];
  const seen = new Set<string>();
  const before = a.issues.size;
  for (const item of items) {
    const m = readObject(a.issues, item.value, item.path, [
      'name',
      'interval',
      'intervalMs',
      'thresholdRange',
      'templateRef',
      'templateVariables',
      'judge',
    ]);
    if (m === undefined) continue;
    const name = m.string('name', { required: true });
    if (name !== undefined) {
      if (seen.has(name)) m.issues.add(m.at('name'), `duplicates metric ${JSON.stringify(name)}`);
      seen.add(name);
    }
    const intervalMs = m.duration('interval', 'intervalMs') ?? D.metricIntervalMs;
    if (intervalMs === 0) m.issues.add(m.at('interval'), 'must be longer than 0s');
    const ref = m.object('templateRef', ['name', 'namespace']);
    const refName = ref?.string('name', { required: true, check: dnsSubdomain });
    const refNamespace = ref?.string('namespace', { check: dnsLabel() }) ?? namespace;
    const templateVariables = m.stringMap('templateVariables') ?? {};
    if (ref === undefined && name !== undefined && !BUILTINS.includes(name)) {
      m.issues.add(
        m.at('templateRef'),
        `is required: ${JSON.stringify(name)} is not a built-in metric (${BUILTINS.join(', ')})`,
      );
    }
    if (ref === undefined && Object.keys(templateVariables).length > 0) {
      m.issues.add(m.at('templateVariables'), 'is used only with templateRef');
    }
    const range = m.object('thresholdRange', ['min', 'max'], true);
    const min = range?.number('min');
    const max = range?.number('max');
    if (range !== undefined && !range.has('min') && !range.has('max')) {
      m.issues.add(m.at('thresholdRange'), 'must set min, max or both');
    }
    if (min !== undefined && max !== undefined && min > max) {
      m.issues.add(`${m.at('thresholdRange')}.min`, `must not exceed max (${max})`);
    }
    if (ref === undefined && name === BuiltinMetric.RequestSuccessRate) {
      for (const [k, v] of [
        ['min', min],
        ['max', max],
      ] as const) {
        if (v !== undefined && (v < 0 || v > 100)) {
          m.issues.add(
            `${m.at('thresholdRange')}.${k}`,
            `is a percentage: must be between 0 and 100 (got ${v})`,
          );
        }
      }
    }
    if (ref === undefined && name === BuiltinMetric.RequestDuration) {
      for (const [k, v] of [
        ['min', min],
        ['max', max],
      ] as const) {
        if (v !== undefined && v < 0) {
          m.issues.add(
            `${m.at('thresholdRange')}.${k}`,
            `is in milliseconds: must not be negative (got ${v})`,
          );
        }
      }
    }
    const judge = m.has('judge') ? readJudge(m, name, ref !== undefined, max) : undefined;
    if (name === undefined || range === undefined) continue;
    out.push({
      name,
      intervalMs,
      thresholdRange: {
        ...(min !== undefined ? { min } : {}),
        ...(max !== undefined ? { max } : {}),
      },
      ...(ref !== undefined && refName !== undefined
        ? { templateRef: { name: refName, namespace: refNamespace } }
        : {}),
      templateVariables,
      ...(judge !== undefined && judge !== 'threshold' ? { judge } : {}),
    });
  }
  return a.issues.size > before ? undefined : out;
}

const JUDGES: readonly MetricJudge[] = ['threshold', 'comparison'];

/**
 * `metrics[].judge`: `comparison` is offered where the analyzer can compare the canary with its
 * primary: the built-in `request-duration` (with `thresholdRange.max` as the slow-request bound)
 * and counts templates. The built-in success rate is judged on its value (Flagger's query).
 */
function readJudge(
  m: Fields,
  name: string | undefined,
  templated: boolean,
  max: number | undefined,
): MetricJudge | undefined {
  const value = m.string('judge');
  if (value === undefined) return undefined;
  if (!JUDGES.includes(value as MetricJudge)) {
    m.issues.add(
      m.at('judge'),
      `must be one of ${JUDGES.join(', ')} (got ${JSON.stringify(value)})`,
    );
    return undefined;
  }
  const judge = value as MetricJudge;
  if (judge !== 'comparison' || templated) return judge;
  if (name === BuiltinMetric.RequestSuccessRate) {
    m.issues.add(
      m.at('judge'),
      'comparison is offered for request-duration and counts templates; request-success-rate is judged on its value',
    );
  } else if (name === BuiltinMetric.RequestDuration && max === undefined) {
    m.issues.add(
      `${m.at('thresholdRange')}.max`,
      'is required with judge: comparison (requests slower than max milliseconds are slow)',
    );
  }
  return judge;
}

function readWebhooks(a: Fields): Webhook[] | undefined {
  const items = a.list('webhooks');
  if (items === undefined) return a.has('webhooks') ? undefined : [];
  const out: Webhook[] = [];
  const seen = new Set<string>();
  const before = a.issues.size;
  for (const item of items) {
    const w = readObject(a.issues, item.value, item.path, [
      'name',
      'type',
      'url',
      'timeout',
      'timeoutMs',
      'retries',
      'muteAlert',
      'disableTLS',
      'metadata',
    ]);
    if (w === undefined) continue;
    const name = w.string('name', { required: true });
    if (name !== undefined) {
      if (seen.has(name)) w.issues.add(w.at('name'), `duplicates webhook ${JSON.stringify(name)}`);
      seen.add(name);
    }
    const type = w.oneOf('type', Object.values(WebhookType)) ?? WebhookType.Rollout;
    const url = w.string('url', { required: true, check: webhookUrl });
    const timeoutMs = w.duration('timeout', 'timeoutMs') ?? D.webhookTimeoutMs;
    if (timeoutMs === 0) w.issues.add(w.at('timeout'), 'must be longer than 0s');
    const retries = w.integer('retries', { min: 0, max: 100 }) ?? 0;
    const metadata = w.stringMap('metadata') ?? {};
    if (name === undefined || url === undefined) continue;
    out.push({
      name,
      type,
      url,
      timeoutMs,
      retries,
      muteAlert: w.boolean('muteAlert', false),
      disableTLS: w.boolean('disableTLS', false),
      metadata,
    });
  }
  return a.issues.size > before ? undefined : out;
}

function readAlerts(a: Fields, namespace: string): Alert[] | undefined {
  const items = a.list('alerts');
  if (items === undefined) return a.has('alerts') ? undefined : [];
  const out: Alert[] = [];
  const before = a.issues.size;
  for (const item of items) {
    const al = readObject(a.issues, item.value, item.path, ['name', 'severity', 'providerRef']);
    if (al === undefined) continue;
    const name = al.string('name', { required: true });
    const severity = al.oneOf('severity', ['info', 'warn', 'error'] as const) ?? 'info';
    const ref = al.object('providerRef', ['name', 'namespace'], true);
    const refName = ref?.string('name', { required: true, check: dnsSubdomain });
    const refNamespace = ref?.string('namespace', { check: dnsLabel() }) ?? namespace;
    if (name === undefined || refName === undefined) continue;
    out.push({ name, severity, providerRef: { name: refName, namespace: refNamespace } });
  }
  return a.issues.size > before ? undefined : out;
}

function readFleet(f: Fields): Fleet | undefined {
  const fl =
    f.raw('fleet') === undefined
      ? readObject(f.issues, {}, f.at('fleet'), [])
      : f.object('fleet', ['waves', 'failurePolicy', 'freezeWindows']);
  if (fl === undefined) return undefined;
  const before = fl.issues.size;
  const failurePolicy = fl.oneOf('failurePolicy', Object.values(FailurePolicy)) ?? D.failurePolicy;
  const waves = fl.has('waves') ? readWaves(fl) : [defaultWave()];
  const freezeWindows = readFreezeWindows(fl);
  if (fl.issues.size > before || waves === undefined || freezeWindows === undefined)
    return undefined;
  return { waves, failurePolicy, freezeWindows };
}

/** The wave of a spec without a fleet block (and of every Flagger import): every cluster. */
export function defaultWave(): Wave {
  return {
    name: D.waveName,
    selector: { matchLabels: {} },
    maxParallel: D.maxParallel,
    bakeMs: D.bakeMs,
  };
}

function readWaves(fl: Fields): Wave[] | undefined {
  const items = fl.list('waves', true);
  if (items === undefined) return undefined;
  if (items.length === 0) {
    fl.issues.add(fl.at('waves'), 'must list at least one wave');
    return undefined;
  }
  const out: Wave[] = [];
  const names = new Map<string, number>();
  const clusterWave = new Map<string, string>();
  const selectors = new Map<string, string>();
  for (const [index, item] of items.entries()) {
    const w = readObject(fl.issues, item.value, item.path, [
      'name',
      'clusters',
      'selector',
      'maxParallel',
      'bake',
      'bakeMs',
    ]);
    if (w === undefined) continue;
    const name = w.string('name', { required: true, check: dnsLabel() });
    if (name !== undefined) {
      const first = names.get(name);
      if (first !== undefined) w.issues.add(w.at('name'), `duplicates the name of waves[${first}]`);
      else names.set(name, index);
    }
    const clusters = w.stringList('clusters', dnsLabel());
    const sel = w.object('selector', ['matchLabels']);
    const matchLabels =
      sel === undefined ? undefined : (sel.stringMap('matchLabels', labelPair) ?? {});
    if (w.has('clusters') === w.has('selector')) {
      w.issues.add(w.path, 'must set exactly one of clusters and selector');
    }
    if (clusters !== undefined) {
      if (clusters.length === 0 && w.has('clusters'))
        w.issues.add(w.at('clusters'), 'must name at least one cluster');
      clusters.forEach((cluster, i) => {
        const other = clusterWave.get(cluster);
        if (other !== undefined) {
          w.issues.add(
            `${w.at('clusters')}[${i}]`,
            `cluster ${cluster} is already in wave ${other}: a cluster belongs to one wave`,
          );
        } else {
          clusterWave.set(cluster, name ?? `waves[${index}]`);
        }
      });
    }
    if (matchLabels !== undefined) {
      const key = JSON.stringify(
        Object.entries(matchLabels).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
      );
      const other = selectors.get(key);
      if (other !== undefined) {
        w.issues.add(
          w.at('selector'),
          `is the same as wave ${other}'s: it would select no cluster`,
        );
      } else {
        selectors.set(key, name ?? `waves[${index}]`);
      }
    }
    const maxParallel = readMaxParallel(w);
    const bakeMs = w.duration('bake', 'bakeMs') ?? D.bakeMs;
    if (name === undefined || maxParallel === undefined) continue;
    out.push({
      name,
      ...(clusters !== undefined ? { clusters } : {}),
      ...(matchLabels !== undefined ? { selector: { matchLabels } } : {}),
      maxParallel,
      bakeMs,
    });
  }
  return out;
}

function readMaxParallel(w: Fields): number | 'all' | undefined {
  const v = w.raw('maxParallel');
  if (v === undefined) return D.maxParallel;
  if (v === 'all') return 'all';
  if (typeof v === 'number') return checkInteger(w.issues, v, w.at('maxParallel'), { min: 1 });
  w.issues.add(
    w.at('maxParallel'),
    `must be a positive integer or "all" (got ${JSON.stringify(v)})`,
  );
  return undefined;
}

function readFreezeWindows(fl: Fields): FreezeWindow[] | undefined {
  const out: FreezeWindow[] = [];
  const before = fl.issues.size;
  for (const item of fl.list('freezeWindows') ?? []) {
    const w = readObject(fl.issues, item.value, item.path, [
      'name',
      'start',
      'startMs',
      'end',
      'endMs',
      'weekly',
    ]);
    if (w === undefined) continue;
    const name = w.string('name', { required: false });
    const named = name !== undefined ? { name } : {};
    if (w.has('weekly')) {
      for (const k of ['start', 'startMs', 'end', 'endMs']) {
        if (w.has(k)) w.issues.add(w.at(k), 'must not be set with weekly');
      }
      const wk = w.object('weekly', ['start', 'end', 'utcOffset'], true);
      if (wk === undefined) continue;
      const start = wk.string('start', { required: true, check: weekTimeProblem });
      const end = wk.string('end', { required: true, check: weekTimeProblem });
      const offsetText = wk.string('utcOffset', {
        check: (v) =>
          parseUtcOffset(v) === undefined
            ? `must be an offset such as +01:00 or -05:30 (got ${JSON.stringify(v)})`
            : undefined,
      });
      const s = start === undefined ? undefined : parseWeekTime(start);
      const e = end === undefined ? undefined : parseWeekTime(end);
      const offset = parseUtcOffset(offsetText ?? D.utcOffset);
      if (s === undefined || e === undefined || offset === undefined) continue;
      if (s.minute === e.minute) {
        w.issues.add(wk.at('end'), 'must differ from start');
        continue;
      }
      out.push({
        ...named,
        weekly: { start: s.canonical, end: e.canonical, utcOffset: offset.canonical },
      });
      continue;
    }
    const startMs = readInstant(w, 'start', 'startMs');
    const endMs = readInstant(w, 'end', 'endMs');
    if (startMs === undefined || endMs === undefined) continue;
    if (endMs <= startMs) {
      w.issues.add(w.at(w.has('end') ? 'end' : 'endMs'), 'must be after start');
      continue;
    }
    out.push({ ...named, startMs, endMs });
  }
  return fl.issues.size > before ? undefined : out;
}

function weekTimeProblem(value: string): string | undefined {
  return parseWeekTime(value) === undefined
    ? `must be a weekday and a 24-hour time such as "Fri 18:00" (got ${JSON.stringify(value)})`
    : undefined;
}

function readInstant(w: Fields, key: string, msKey: string): number | undefined {
  if (w.has(key) && w.has(msKey)) {
    w.issues.add(w.at(msKey), `set either ${key} or ${msKey}, not both`);
    return undefined;
  }
  if (w.has(msKey)) return w.integer(msKey, { min: 0 });
  const text = w.string(key, { required: true });
  if (text === undefined) return undefined;
  const parsed = parseRfc3339Ms(text);
  if (!parsed.ok) {
    w.issues.add(w.at(key), parsed.message);
    return undefined;
  }
  return parsed.ms;
}

/**
 * A normalized Rollout stored before a field was added (e.g. an application's spec applied before
 * `resultTimeout`), completed with that field's default, for a release started now. Specs
 * recorded in a release's `ReleaseStarted` are never completed: their release replays as
 * recorded.
 */
export function withCurrentDefaults(rollout: Rollout): Rollout {
  const analysis = rollout.spec.analysis;
  if (analysis.resultTimeoutMs !== undefined) return rollout;
  return {
    ...rollout,
    spec: {
      ...rollout.spec,
      analysis: { ...analysis, resultTimeoutMs: analysis.intervalMs + D.resultTimeoutSlackMs },
    },
  };
}
