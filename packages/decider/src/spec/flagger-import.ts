import { ValidationError } from '@aviary/core';
import { parseDurationMs } from './duration.ts';
import { dnsLabel, dnsSubdomain } from './names.ts';
import { parseDocuments } from './parse-rollout.ts';
import { childPath, type Fields, IssueList, isPlainObject, readObject } from './reader.ts';
import { API_VERSION, BuiltinMetric, KIND, ROLLOUT_DEFAULTS, type Rollout } from './types.ts';
import { readRollout, UNSUPPORTED_SERVICE_FIELDS } from './validate-rollout.ts';

/**
 * Import of Flagger resources: a `flagger.app/v1beta1` `Canary` becomes a one-wave Rollout (wave
 * `default`, selecting every cluster, one cluster at a time) with its analysis block unchanged,
 * and `MetricTemplate`s are validated and returned alongside. Where Flagger silently corrects a
 * value at run time (threshold ≤ 0, an interval under 10 s, the `kubernetes` provider without
 * iterations, …) the import applies the same correction and says so in `notes`; a field that is
 * not part of Flagger's schema, or that Aviary cannot honour, is an error with its path.
 */

export const FLAGGER_API_VERSION = 'flagger.app/v1beta1';

export const MetricProviderType = {
  Prometheus: 'prometheus',
  InfluxDb: 'influxdb',
  Datadog: 'datadog',
  ExternalMetrics: 'externalmetrics',
  Stackdriver: 'stackdriver',
  CloudWatch: 'cloudwatch',
  NewRelic: 'newrelic',
  Graphite: 'graphite',
  Dynatrace: 'dynatrace',
  Keptn: 'keptn',
  Splunk: 'splunk',
} as const;
export type MetricProviderType = (typeof MetricProviderType)[keyof typeof MetricProviderType];

/** Flagger's `MetricTemplate` (`flagger.app/v1beta1`), normalized. */
export interface MetricTemplate {
  readonly apiVersion: typeof FLAGGER_API_VERSION;
  readonly kind: 'MetricTemplate';
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly spec: {
    readonly provider: {
      readonly type: MetricProviderType;
      readonly address?: string;
      /** Secret in the template's namespace holding the provider's credentials. */
      readonly secretRef?: { readonly name: string };
      readonly region?: string;
      readonly insecureSkipVerify: boolean;
      readonly headers?: Readonly<Record<string, readonly string[]>>;
    };
    /** Go text/template query: `{{ namespace }}`, `{{ target }}`, `{{ interval }}`, `{{ variables.x }}`. */
    readonly query: string;
  };
}

/** Something the import changed or dropped, with the Flagger path it concerns. */
export interface ImportNote {
  readonly path: string;
  readonly message: string;
}

export interface FlaggerImport {
  readonly rollout: Rollout;
  readonly metricTemplates: readonly MetricTemplate[];
  readonly notes: readonly ImportNote[];
}

export interface FlaggerImportOptions {
  /** Flagger's `-mesh-provider`, used when the Canary has no `spec.provider`. Default `istio`. */
  readonly meshProvider?: string;
  /** Flagger's `-metrics-server`, address of templates made from inline `query` metrics. */
  readonly metricsServer?: string;
}

const DEFAULT_METRICS_SERVER = 'http://prometheus:9090';

/** Metadata Kubernetes adds to stored objects; dropped on import (with a note). */
const SERVER_METADATA = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'finalizers',
  'ownerReferences',
  'selfLink',
  'generateName',
];

/** Flagger Canary spec fields Aviary does not implement (their routers or targets). */
const UNSUPPORTED_SPEC: Readonly<Record<string, string>> = {
  routeRef: 'APISIX routes are not supported by Aviary',
  upstreamRef: 'Gloo upstreams are not supported by Aviary',
};
const UNSUPPORTED_SERVICE: Readonly<Record<string, string>> = {
  meshName: 'App Mesh is not supported by Aviary',
  backends: 'App Mesh is not supported by Aviary',
};
/** Aviary-only fields: not part of a Flagger Canary, so reported as unknown there. */
const AVIARY_ONLY_SPEC = ['fleet', 'strategy'];
const AVIARY_ONLY_ANALYSIS = ['intervalMs', 'maxHeldChecks', 'resultTimeout', 'resultTimeoutMs'];

/**
 * Imports a Flagger Canary. `canaryYaml` may also carry MetricTemplates (`---` separated);
 * `templatesYaml` are further YAML texts with MetricTemplates.
 */
export function importFlaggerCanary(
  canaryYaml: string,
  templatesYaml: readonly string[] = [],
  options: FlaggerImportOptions = {},
): FlaggerImport {
  const docs = [
    ...parseDocuments(canaryYaml, 'yaml', 'Flagger Canary'),
    ...templatesYaml.flatMap((t) => parseDocuments(t, 'yaml', 'Flagger MetricTemplate')),
  ];
  const issues = new IssueList();
  const notes: ImportNote[] = [];
  const canaries = docs.filter((d) => isPlainObject(d) && d.kind === 'Canary');
  const templateDocs = docs.filter((d) => isPlainObject(d) && d.kind === 'MetricTemplate');
  docs.forEach((d, i) => {
    const kind = isPlainObject(d) ? d.kind : undefined;
    if (kind !== 'Canary' && kind !== 'MetricTemplate') {
      issues.add(
        `documents[${i}].kind`,
        `must be Canary or MetricTemplate (got ${JSON.stringify(kind)})`,
      );
    }
  });
  if (canaries.length !== 1) {
    issues.add('', `must contain exactly one Canary (got ${canaries.length})`);
    throw new ValidationError('invalid Flagger import', issues.items);
  }
  const canary = canaries[0] as Record<string, unknown>;
  const namespace = canaryNamespace(canary);
  const metricTemplates: MetricTemplate[] = [];
  templateDocs.forEach((doc, i) => {
    const template = readMetricTemplate(issues, doc, `metricTemplates[${i}]`, namespace);
    if (template !== undefined) metricTemplates.push(template);
  });
  const { resource, inlineTemplates } = toRolloutResource(canary, issues, notes, options);
  metricTemplates.push(...inlineTemplates);
  const rollout = readRollout(issues, resource);
  if (issues.size > 0 || rollout === undefined) {
    throw new ValidationError('invalid Flagger import', issues.items);
  }
  for (const [i, metric] of rollout.spec.analysis.metrics.entries()) {
    const ref = metric.templateRef;
    if (ref === undefined) continue;
    const found = metricTemplates.some(
      (t) => t.metadata.name === ref.name && t.metadata.namespace === ref.namespace,
    );
    if (!found) {
      notes.push({
        path: `spec.analysis.metrics[${i}].templateRef`,
        message: `MetricTemplate ${ref.namespace}/${ref.name} was not among the imported documents`,
      });
    }
  }
  return { rollout, metricTemplates, notes };
}

function canaryNamespace(canary: Record<string, unknown>): string {
  const metadata = canary.metadata;
  if (isPlainObject(metadata) && typeof metadata.namespace === 'string') return metadata.namespace;
  return ROLLOUT_DEFAULTS.namespace;
}

/** Rewrites a Canary document into a Rollout resource document (same paths), applying Flagger's corrections. */
function toRolloutResource(
  canary: Record<string, unknown>,
  issues: IssueList,
  notes: ImportNote[],
  options: FlaggerImportOptions,
): { resource: Record<string, unknown>; inlineTemplates: MetricTemplate[] } {
  const note = (path: string, message: string) => notes.push({ path, message });
  for (const key of Object.keys(canary)) {
    if (key === 'status') note('status', 'dropped (Aviary keeps state in its event log)');
    else if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(key))
      issues.add(key, 'unknown field');
  }
  if (canary.apiVersion !== FLAGGER_API_VERSION) {
    issues.add(
      'apiVersion',
      `must be ${FLAGGER_API_VERSION} (got ${JSON.stringify(canary.apiVersion)})`,
    );
  }
  const metadata: Record<string, unknown> = {};
  if (isPlainObject(canary.metadata)) {
    for (const [key, value] of Object.entries(canary.metadata)) {
      if (SERVER_METADATA.includes(key)) note(`metadata.${key}`, 'dropped (set by the API server)');
      else metadata[key] = value;
    }
  } else {
    issues.add('metadata', 'must be an object');
  }
  const spec: Record<string, unknown> = isPlainObject(canary.spec) ? { ...canary.spec } : {};
  if (!isPlainObject(canary.spec)) issues.add('spec', 'must be an object');
  for (const key of AVIARY_ONLY_SPEC) if (key in spec) issues.add(`spec.${key}`, 'unknown field');
  // Reported once here, then removed so that validation does not call them unknown as well.
  for (const [key, message] of Object.entries(UNSUPPORTED_SPEC)) {
    if (key in spec) issues.add(`spec.${key}`, message);
    delete spec[key];
  }
  if (isPlainObject(spec.service)) {
    const service = { ...spec.service };
    for (const [key, message] of Object.entries(UNSUPPORTED_SERVICE)) {
      if (key in service) issues.add(`spec.service.${key}`, message);
      delete service[key];
    }
    // Routing details Aviary's agent does not write yet (Flagger's own examples set some): the
    // imported Rollout goes without them, and a note says so. A Rollout written for Aviary that
    // sets them is refused instead (validate-rollout.ts): nothing is kept and then ignored.
    for (const [key, why] of Object.entries(UNSUPPORTED_SERVICE_FIELDS)) {
      const value = service[key];
      if (value === undefined) continue;
      delete service[key];
      if (value === false || (Array.isArray(value) && value.length === 0)) continue;
      note(`spec.service.${key}`, `dropped: not applied by Aviary yet (${why})`);
    }
    spec.service = service;
  }
  if (spec.canaryAnalysis !== undefined) {
    if (spec.analysis === undefined) {
      spec.analysis = spec.canaryAnalysis;
      note('spec.canaryAnalysis', 'deprecated alias: imported as spec.analysis');
    } else {
      note('spec.canaryAnalysis', 'dropped: Flagger prefers spec.analysis, which is set');
    }
    delete spec.canaryAnalysis;
  }
  if (spec.provider === undefined || spec.provider === null || spec.provider === '') {
    const provider = options.meshProvider ?? ROLLOUT_DEFAULTS.provider;
    spec.provider = provider;
    note('spec.provider', `not set: using ${provider} (the controller's -mesh-provider)`);
  }
  const inlineTemplates: MetricTemplate[] = [];
  if (isPlainObject(spec.analysis)) {
    spec.analysis = correctAnalysis(
      { ...spec.analysis },
      spec,
      canary,
      issues,
      note,
      inlineTemplates,
      options,
    );
  }
  return {
    resource: { apiVersion: API_VERSION, kind: KIND, metadata, spec },
    inlineTemplates,
  };
}

function correctAnalysis(
  a: Record<string, unknown>,
  spec: Record<string, unknown>,
  canary: Record<string, unknown>,
  issues: IssueList,
  note: (path: string, message: string) => void,
  inlineTemplates: MetricTemplate[],
  options: FlaggerImportOptions,
): Record<string, unknown> {
  const p = 'spec.analysis';
  for (const key of AVIARY_ONLY_ANALYSIS) if (key in a) issues.add(`${p}.${key}`, 'unknown field');
  if (typeof a.interval === 'string') {
    const parsed = parseDurationMs(a.interval);
    if (parsed.ok && parsed.ms < ROLLOUT_DEFAULTS.minIntervalMs) {
      note(`${p}.interval`, `${a.interval} is below Flagger's 10s floor: 10s is used`);
    }
  }
  if (typeof a.threshold === 'number' && a.threshold <= 0) {
    note(`${p}.threshold`, `${a.threshold} means 1 in Flagger: imported as 1`);
    a.threshold = 1;
  }
  if (typeof a.maxWeight === 'number' && a.maxWeight <= 0) {
    note(`${p}.maxWeight`, `${a.maxWeight} means 100 in Flagger: imported as 100`);
    delete a.maxWeight;
  }
  if (Array.isArray(a.stepWeights) && a.stepWeights.length > 0 && a.maxWeight !== undefined) {
    note(`${p}.maxWeight`, 'dropped: Flagger ignores maxWeight when stepWeights is set');
    delete a.maxWeight;
  }
  if (spec.provider === 'kubernetes') {
    if (Array.isArray(a.match) && a.match.length > 0) {
      note(`${p}.match`, 'dropped: Flagger ignores match with the kubernetes provider');
      delete a.match;
    }
    const iterations = typeof a.iterations === 'number' ? a.iterations : 0;
    const steps = a.stepWeight !== undefined || a.stepWeights !== undefined;
    if (iterations < 1 && !steps) {
      note(`${p}.iterations`, 'Flagger uses 10 with the kubernetes provider: imported as 10');
      a.iterations = 10;
    }
  }
  if (Array.isArray(a.webhooks)) {
    a.webhooks = a.webhooks.map((hook: unknown, i) => {
      if (!isPlainObject(hook)) return hook;
      const h = { ...hook };
      if (h.type === '') {
        delete h.type;
        note(`${p}.webhooks[${i}].type`, 'empty: imported as rollout');
      }
      if (typeof h.timeout === 'string' && h.timeout.length < 2) {
        note(
          `${p}.webhooks[${i}].timeout`,
          `${JSON.stringify(h.timeout)} means 10s in Flagger: imported as 10s`,
        );
        delete h.timeout;
      }
      return h;
    });
  }
  if (Array.isArray(a.alerts)) {
    a.alerts = a.alerts.map((alert: unknown, i) => {
      if (!isPlainObject(alert) || alert.severity !== '') return alert;
      note(
        `${p}.alerts[${i}].severity`,
        'empty: Flagger sends such an alert nothing (contrary to its docs); imported as info',
      );
      return { ...alert, severity: 'info' };
    });
  }
  if (Array.isArray(a.metrics)) {
    a.metrics = a.metrics.map((metric: unknown, i) => {
      if (!isPlainObject(metric)) return metric;
      return correctMetric(
        { ...metric },
        `${p}.metrics[${i}]`,
        spec,
        canary,
        issues,
        note,
        inlineTemplates,
        options,
      );
    });
  }
  return a;
}

function correctMetric(
  m: Record<string, unknown>,
  path: string,
  spec: Record<string, unknown>,
  canary: Record<string, unknown>,
  issues: IssueList,
  note: (path: string, message: string) => void,
  inlineTemplates: MetricTemplate[],
  options: FlaggerImportOptions,
): Record<string, unknown> {
  if ('judge' in m) {
    // Aviary's own field: not in a Flagger Canary (reported once, not validated again).
    issues.add(`${path}.judge`, 'unknown field');
    delete m.judge;
  }
  if (m.threshold !== undefined) {
    if (m.thresholdRange !== undefined) {
      note(`${path}.threshold`, 'dropped: thresholdRange takes precedence in Flagger');
    } else if (typeof m.threshold === 'number') {
      const isMinimum = m.name === BuiltinMetric.RequestSuccessRate && m.templateRef === undefined;
      m.thresholdRange = isMinimum ? { min: m.threshold } : { max: m.threshold };
      note(
        `${path}.threshold`,
        `deprecated: imported as thresholdRange.${isMinimum ? 'min' : 'max'}`,
      );
    } else {
      issues.add(`${path}.threshold`, 'must be a number');
    }
    delete m.threshold;
  }
  if (m.query !== undefined) {
    if (m.templateRef !== undefined) {
      issues.add(
        `${path}.query`,
        'set either query or templateRef: Aviary runs one query per metric',
      );
    } else if (typeof m.query !== 'string' || typeof m.name !== 'string') {
      issues.add(`${path}.query`, 'must be a string, with the metric name set');
    } else {
      const metadata = isPlainObject(canary.metadata) ? canary.metadata : {};
      const base = `${String(metadata.name ?? 'canary')}-${m.name}`
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, '-');
      const name = base.slice(0, 253).replace(/^-+|-+$/g, '');
      const namespace = canaryNamespace(canary);
      const address =
        typeof spec.metricsServer === 'string'
          ? spec.metricsServer
          : (options.metricsServer ?? DEFAULT_METRICS_SERVER);
      inlineTemplates.push({
        apiVersion: FLAGGER_API_VERSION,
        kind: 'MetricTemplate',
        metadata: { name, namespace },
        spec: {
          provider: { type: 'prometheus', address, insecureSkipVerify: false },
          query: m.query,
        },
      });
      m.templateRef = { name, namespace };
      note(
        `${path}.query`,
        `inline query moved to MetricTemplate ${namespace}/${name} (prometheus at ${address})`,
      );
    }
    delete m.query;
  }
  return m;
}

/** Validates one MetricTemplate document; problems go to `issues` under `path`. */
export function readMetricTemplate(
  issues: IssueList,
  value: unknown,
  path: string,
  defaultNamespace: string,
): MetricTemplate | undefined {
  const root = readObject(issues, value, path, [
    'apiVersion',
    'kind',
    'metadata',
    'spec',
    'status',
  ]);
  if (root === undefined) return undefined;
  const before = issues.size;
  root.oneOf('apiVersion', [FLAGGER_API_VERSION], true);
  root.oneOf('kind', ['MetricTemplate'], true);
  const md = root.object(
    'metadata',
    ['name', 'namespace', 'labels', 'annotations', ...SERVER_METADATA],
    true,
  );
  const name = md?.string('name', { required: true, check: dnsSubdomain });
  const namespace = md?.string('namespace', { check: dnsLabel() }) ?? defaultNamespace;
  const spec = root.object('spec', ['provider', 'query'], true);
  const provider = spec?.object(
    'provider',
    ['type', 'address', 'secretRef', 'region', 'insecureSkipVerify', 'headers'],
    true,
  );
  const query = spec?.string('query', { required: true });
  const type =
    provider?.oneOf('type', Object.values(MetricProviderType)) ?? MetricProviderType.Prometheus;
  const address = provider?.string('address');
  const secret = provider?.object('secretRef', ['name']);
  const secretName = secret?.string('name', { required: true, check: dnsSubdomain });
  const region = provider?.string('region');
  const headers = provider === undefined ? undefined : readHeaders(provider);
  if (type === MetricProviderType.CloudWatch && region === undefined && provider !== undefined) {
    issues.add(provider.at('region'), 'is required by the cloudwatch provider');
  }
  if (issues.size > before || name === undefined || query === undefined || provider === undefined) {
    return undefined;
  }
  return {
    apiVersion: FLAGGER_API_VERSION,
    kind: 'MetricTemplate',
    metadata: { name, namespace },
    spec: {
      provider: {
        type,
        ...(address !== undefined ? { address } : {}),
        ...(secretName !== undefined ? { secretRef: { name: secretName } } : {}),
        ...(region !== undefined ? { region } : {}),
        insecureSkipVerify: provider.boolean('insecureSkipVerify', false),
        ...(headers !== undefined ? { headers } : {}),
      },
      query,
    },
  };
}

/** Go `http.Header`: a map of header names to lists of values. */
function readHeaders(provider: Fields): Record<string, string[]> | undefined {
  const raw = provider.raw('headers');
  if (raw === undefined) return undefined;
  if (!isPlainObject(raw)) {
    provider.issues.add(provider.at('headers'), 'must be a map of header names to lists of values');
    return undefined;
  }
  const entries: [string, string[]][] = [];
  for (const [key, values] of Object.entries(raw)) {
    const path = childPath(provider.at('headers'), key);
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) {
      provider.issues.add(path, 'must be a list of strings');
      continue;
    }
    entries.push([key, values.map(String)]);
  }
  return Object.fromEntries(entries);
}
