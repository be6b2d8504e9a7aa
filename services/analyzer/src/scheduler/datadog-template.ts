/**
 * Datadog metric templates and their grouped form. A Datadog template is one Datadog expression
 * whose canary scope is written as tag filters, e.g.
 *
 *   100 - sum:trace.http.request.errors{env:prod,kube_namespace:{{ namespace }},kube_deployment:{{ target }}}.as_count()
 *       / sum:trace.http.request.hits{env:prod,kube_namespace:{{ namespace }},kube_deployment:{{ target }}}.as_count() * 100
 *
 * Actions: the identity fields `cluster`, `namespace`, `target`, `name`, `service`, `ingress`,
 * `route`; `interval` (rendered as whole seconds, Datadog's unit for `.rollup(…, seconds)`); and
 * `variables.<key>`. Every value must be a safe Datadog tag value (letters, digits, `_ . - / :`),
 * and identity fields valid Kubernetes names, so a value can never inject query syntax.
 *
 * Folding: for any space aggregator, `agg:m{f, k1:v1, k2:v2}` is exactly the group `(v1, v2)` of
 * `agg:m{f} by {k1,k2}`, and Datadog joins the operands of arithmetic group by group. So a template
 * folds when every identity action sits as a whole filter value (`key:{{ target }}`), every metric
 * query carrying one has no `by` of its own, and all those queries use the same identity tag keys:
 * the grouped query drops the identity filters and groups by their keys, and a canary's series is
 * the one whose group tags equal its identity. Any other template is queried per canary.
 */
import { ValidationError, type ValidationIssue } from '@aviary/core';
import { kubernetesNameProblem } from '../metrics/templates.ts';

/** The canary fields a template can scope by. */
export const IDENTITY_FIELDS = [
  'cluster',
  'namespace',
  'target',
  'name',
  'service',
  'ingress',
  'route',
] as const;
export type IdentityField = (typeof IDENTITY_FIELDS)[number];

export interface DatadogTemplateModel {
  readonly cluster: string;
  readonly namespace: string;
  readonly target: string;
  readonly name?: string;
  readonly service?: string;
  readonly ingress?: string;
  readonly route?: string;
  /** The window's length; `{{ interval }}` renders as whole seconds. */
  readonly intervalMs: number;
  readonly variables?: Readonly<Record<string, string>>;
}

/** The grouped form of a template: one query for every canary, and how to find each one's series. */
export interface GroupedDatadogQuery {
  readonly query: string;
  /** Tag key → the canary field its value comes from (the `by {…}` keys). */
  readonly identity: Readonly<Record<string, IdentityField>>;
}

const TAG_VALUE = /^[A-Za-z0-9_.\-/:]+$/;
const ACTION = /\{\{\s*([^{}]*?)\s*\}\}/g;
const HOLE = /\uE000(\d+)\uE001/g;
const METRIC_QUERY =
  /\b(?:sum|avg|min|max):[A-Za-z][A-Za-z0-9_.]*\{([^{}]*)\}(\s*by\s*\{[^{}]*\})?/g;

interface Hole {
  readonly action: string;
  readonly field?: IdentityField | 'interval';
  readonly variable?: string;
}

/** The template with each action replaced by a hole (private-use delimiters around its index). */
function tokenize(template: string): { text: string; holes: Hole[]; issues: ValidationIssue[] } {
  const holes: Hole[] = [];
  const issues: ValidationIssue[] = [];
  if (/[\uE000\uE001]/.test(template)) {
    issues.push({
      path: 'query',
      message: 'private-use characters U+E000 and U+E001 are not allowed',
    });
  }
  const text = template.replace(ACTION, (_, raw: string) => {
    const action = raw.trim();
    const variable = /^variables\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(action)?.[1];
    if (variable !== undefined) holes.push({ action, variable });
    else if (action === 'interval') holes.push({ action, field: 'interval' });
    else if ((IDENTITY_FIELDS as readonly string[]).includes(action)) {
      holes.push({ action, field: action as IdentityField });
    } else {
      issues.push({ path: 'query', message: `unknown template action {{ ${action} }}` });
      holes.push({ action });
    }
    return `\uE000${holes.length - 1}\uE001`;
  });
  if (/\{\{|\}\}/.test(text)) {
    issues.push({ path: 'query', message: 'unbalanced {{ }} in the template' });
  }
  return { text, holes, issues };
}

function tagValueProblem(value: string | undefined, what: string): string | undefined {
  if (value === undefined) return `${what} is not set`;
  return TAG_VALUE.test(value)
    ? undefined
    : `${what} ${JSON.stringify(value)} is not a Datadog tag value (letters, digits, _ . - / :)`;
}

function identityValue(model: DatadogTemplateModel, field: IdentityField): string | undefined {
  if (field === 'name' || field === 'service' || field === 'ingress' || field === 'route') {
    return model[field] ?? model.target;
  }
  return model[field];
}

/** The value of a non-identity hole, or a problem. */
function fillShared(
  hole: Hole,
  model: Pick<DatadogTemplateModel, 'intervalMs' | 'variables'>,
): string | { problem: string } {
  if (hole.field === 'interval') {
    if (!Number.isFinite(model.intervalMs) || model.intervalMs < 1000) {
      return { problem: `interval must be at least 1 s, got ${model.intervalMs} ms` };
    }
    return String(Math.floor(model.intervalMs / 1000));
  }
  if (hole.variable !== undefined) {
    const value = model.variables?.[hole.variable];
    const problem = tagValueProblem(value, `variables.${hole.variable}`);
    return problem === undefined && value !== undefined ? value : { problem: problem ?? '' };
  }
  return { problem: `{{ ${hole.action} }} cannot be rendered here` };
}

/** Renders a Datadog template for one canary. Throws `ValidationError` listing every problem. */
export function renderDatadogQuery(template: string, model: DatadogTemplateModel): string {
  const { text, holes, issues } = tokenize(template);
  const out = text.replace(HOLE, (_, index: string) => {
    const hole = holes[Number(index)];
    if (hole === undefined) return '';
    if (hole.field !== undefined && hole.field !== 'interval') {
      const value = identityValue(model, hole.field);
      const problem =
        tagValueProblem(value, hole.field) ??
        (hole.field === 'cluster'
          ? undefined
          : kubernetesNameProblem(value, hole.field === 'namespace'));
      if (problem !== undefined) issues.push({ path: hole.field, message: problem });
      return value ?? '';
    }
    const filled = fillShared(hole, model);
    if (typeof filled === 'string') return filled;
    issues.push({ path: `query{{ ${hole.action} }}`, message: filled.problem });
    return '';
  });
  if (issues.length > 0) throw new ValidationError('datadog metric template', issues);
  return out;
}

/**
 * The grouped form of a template, or why it cannot fold (then query it per canary). Throws
 * `ValidationError` for a template that cannot render at all (unknown action, bad variable).
 */
export function groupedDatadogQuery(
  template: string,
  model: Pick<DatadogTemplateModel, 'intervalMs' | 'variables'>,
): GroupedDatadogQuery | { readonly unfoldable: string } {
  const { text, holes, issues } = tokenize(template);
  for (const hole of holes) {
    if (hole.field !== undefined && hole.field !== 'interval') continue;
    const filled = fillShared(hole, model);
    if (typeof filled !== 'string') {
      issues.push({ path: `query{{ ${hole.action} }}`, message: filled.problem });
    }
  }
  if (issues.length > 0) throw new ValidationError('datadog metric template', issues);

  const isIdentity = (index: number): IdentityField | undefined => {
    const field = holes[index]?.field;
    return field === undefined || field === 'interval' ? undefined : field;
  };
  let identityKeys: string | undefined;
  const identity: Record<string, IdentityField> = {};
  let used = 0;
  let problem: string | undefined;
  const rewritten = text.replace(
    METRIC_QUERY,
    (whole: string, filters: string, by: string | undefined) => {
      const kept: string[] = [];
      const keys: string[] = [];
      for (const raw of filters.split(',')) {
        const filter = raw.trim();
        const match = /^([A-Za-z][A-Za-z0-9_.\-/]*):\uE000(\d+)\uE001$/.exec(filter);
        const field = match === null ? undefined : isIdentity(Number(match[2]));
        if (match !== null && field !== undefined) {
          const key = match[1] ?? '';
          if (identity[key] !== undefined && identity[key] !== field) {
            problem = `tag ${key} scoped by both {{ ${identity[key]} }} and {{ ${field} }}`;
          }
          identity[key] = field;
          keys.push(key);
          used++;
        } else if (filter !== '') {
          kept.push(filter);
        }
      }
      if (keys.length === 0) return whole;
      if (by !== undefined) problem = 'a metric query scoped by the canary already has a `by {…}`';
      const sorted = [...keys].sort().join(',');
      if (identityKeys !== undefined && identityKeys !== sorted) {
        problem = 'metric queries are scoped by different canary tags';
      }
      identityKeys = sorted;
      const name = whole.slice(0, whole.indexOf('{'));
      return `${name}{${kept.length === 0 ? '*' : kept.join(',')}} by {${sorted}}`;
    },
  );
  const identityHoles = holes.filter((_, i) => isIdentity(i) !== undefined).length;
  if (problem !== undefined) return { unfoldable: problem };
  if (identityHoles === 0) return { unfoldable: 'the template is not scoped by the canary' };
  if (used !== identityHoles) {
    return { unfoldable: 'a canary field is used outside a `tag:{{ field }}` filter' };
  }
  const query = rewritten.replace(HOLE, (_, index: string) => {
    const hole = holes[Number(index)];
    const filled = hole === undefined ? '' : fillShared(hole, model);
    return typeof filled === 'string' ? filled : '';
  });
  return { query, identity };
}

/** The group tags a canary's series carries in a grouped answer. */
export function identityLabels(
  identity: Readonly<Record<string, IdentityField>>,
  model: Omit<DatadogTemplateModel, 'intervalMs' | 'variables'>,
): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, field] of Object.entries(identity)) {
    labels[key] = identityValue({ ...model, intervalMs: 0 }, field) ?? '';
  }
  return labels;
}
