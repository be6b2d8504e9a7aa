/**
 * Flagger-compatible `MetricTemplate` queries: `{{ namespace }}`, `{{ target }}`, `{{ name }}`,
 * `{{ service }}`, `{{ ingress }}`, `{{ route }}`, `{{ interval }}` and `{{ variables.<key> }}`
 * (Go-template actions, spaces optional), rendered safely for PromQL:
 *
 * - Every value is substituted according to where it sits in the query. Inside a `"…"` or `'…'`
 *   string literal it is escaped (backslash, quotes, newlines, control characters), so it can
 *   never close the string. Inside a `` `…` `` raw string, a value holding a backtick is
 *   rejected. Outside string literals (e.g. `[{{ interval }}]`, `by ({{ variables.label }})`) a
 *   value must be a duration (`1m`, `1m30s`), a plain number or an identifier, or it is rejected.
 * - Kubernetes names (`namespace`, `target`, `name`, `service`, `ingress`, `route`) must be valid
 *   Kubernetes names, so `foo"} or vector(1) #` is rejected before any query is built; inside a
 *   regex matcher (`=~`, `!~`) their dots are escaped, so `a.b` matches only `a.b`.
 * - `variables.*` values are free text: escaped, never rejected inside a string literal. Inside a
 *   regex matcher they stay regular expressions (Flagger users pass patterns such as `5.*`).
 * - Unknown actions (`{{ foo }}`, `{{ .x }}`, `{{ if … }}`) and missing variables are errors
 *   (Flagger renders with `missingkey=error`), never an empty string.
 */
import { ValidationError, type ValidationIssue } from '@aviary/core';
import { z } from '@aviary/platform';
import { MetricProviderKind } from './provider.ts';

/** The values a template can use (Flagger's `MetricTemplateModel`). */
export interface TemplateModel {
  /** The canary's name; default `target`. */
  readonly name?: string;
  readonly namespace: string;
  /** The target workload's name (`targetRef.name`). */
  readonly target: string;
  /** `service.name`; default `target`. */
  readonly service?: string;
  /** `ingressRef.name`; default `target`. */
  readonly ingress?: string;
  /** `routeRef.name`; default `target`. */
  readonly route?: string;
  /** The metric's interval as a PromQL duration, e.g. `1m`. */
  readonly interval: string;
  /** `templateVariables`. */
  readonly variables?: Readonly<Record<string, string>>;
}

/** Flagger's `MetricTemplate.spec`, as imported from YAML. */
export const metricTemplateSpecSchema = z.object({
  provider: z.object({
    type: z.literal(MetricProviderKind.Prometheus, {
      error: 'only `prometheus` templates are supported by this analyzer so far',
    }),
    address: z.url({ protocol: /^https?$/ }).optional(),
    secretRef: z.object({ name: z.string().min(1) }).optional(),
    headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
    insecureSkipVerify: z.boolean().optional(),
  }),
  query: z.string().min(1),
});
export type MetricTemplateSpec = z.infer<typeof metricTemplateSpecSchema>;

/** Validates a `MetricTemplate.spec` and checks that its query only uses known actions. */
export function parseMetricTemplateSpec(input: unknown): MetricTemplateSpec {
  const parsed = metricTemplateSpecSchema.safeParse(input);
  if (!parsed.success) {
    throw new ValidationError(
      'metric template',
      parsed.error.issues.map((issue) => ({
        path: issue.path.map(String).join('.'),
        message: issue.message,
      })),
    );
  }
  const issues = scan(parsed.data.query).issues.map((i) => ({ ...i, path: `query${i.path}` }));
  if (issues.length > 0) throw new ValidationError('metric template', issues);
  return parsed.data;
}

/** The identity fields: Kubernetes names. */
const NAME_FIELDS = ['name', 'namespace', 'target', 'service', 'ingress', 'route'] as const;
type NameField = (typeof NAME_FIELDS)[number];
const KNOWN_ACTIONS: ReadonlySet<string> = new Set([...NAME_FIELDS, 'interval']);

/** DNS-1123 subdomain (Deployments, Services, Ingresses): at most 253 characters. */
const KUBERNETES_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** DNS-1123 label (Namespaces): at most 63 characters. */
const KUBERNETES_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A PromQL duration: `30s`, `1m`, `1h30m`, `500ms`. */
export const PROMQL_DURATION = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/;
const NUMBER = /^\d+(?:\.\d+)?$/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ACTION = /^(?:([a-z]+)|variables\.([A-Za-z_][A-Za-z0-9_]*))$/;

/**
 * Renders a template query for one canary. Throws `ValidationError` listing every problem: an
 * invalid name or interval, an unknown action, a missing variable, a value that is not safe where
 * it is placed.
 */
export function renderQuery(template: string, model: TemplateModel): string {
  const issues = modelIssues(model);
  const { parts, issues: syntaxIssues } = scan(template);
  issues.push(...syntaxIssues.map((i) => ({ ...i, path: `query${i.path}` })));
  let out = '';
  for (const part of parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const value = lookup(part, model);
    if (value === undefined) {
      issues.push({
        path: `query@${part.offset}`,
        message: `template variable \`${part.action}\` is not set`,
      });
      continue;
    }
    const rendered = substitute(part, value);
    if (typeof rendered === 'string') out += rendered;
    else issues.push({ path: `query@${part.offset}`, message: rendered.problem });
  }
  if (issues.length > 0) throw new ValidationError('metric template', issues);
  return out;
}

/** Escapes a value for a PromQL `"…"` or `'…'` string literal (both quotes are escaped). */
export function escapePromqlString(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === "'") out += "\\'";
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

/** Escapes RE2 metacharacters so that the value matches only itself. */
export function escapeRegex(value: string): string {
  return value.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** Problems with the model's own values, independent of the template. */
function modelIssues(model: TemplateModel): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const field of NAME_FIELDS) {
    const value = model[field];
    if (value === undefined && field !== 'namespace' && field !== 'target') continue;
    const problem = kubernetesNameProblem(value, field === 'namespace');
    if (problem !== undefined) issues.push({ path: field, message: problem });
  }
  if (typeof model.interval !== 'string' || !PROMQL_DURATION.test(model.interval)) {
    issues.push({
      path: 'interval',
      message: `must be a PromQL duration such as 1m or 30s, got ${JSON.stringify(model.interval)}`,
    });
  }
  for (const [key, value] of Object.entries(model.variables ?? {})) {
    if (typeof value !== 'string') {
      issues.push({ path: `variables.${key}`, message: 'must be a string' });
    }
  }
  return issues;
}

export function kubernetesNameProblem(value: unknown, namespace: boolean): string | undefined {
  if (typeof value !== 'string' || value === '') return 'must be a non-empty Kubernetes name';
  const ok = namespace
    ? value.length <= 63 && KUBERNETES_LABEL.test(value)
    : value.length <= 253 && KUBERNETES_NAME.test(value);
  return ok
    ? undefined
    : `${JSON.stringify(value)} is not a valid Kubernetes ${namespace ? 'namespace' : 'name'} ` +
        '(lower-case letters, digits, `-`' +
        (namespace ? ')' : ', `.`)');
}

/** Where an action sits in the query. */
const Context = {
  Code: 'code',
  DoubleQuoted: 'double-quoted',
  SingleQuoted: 'single-quoted',
  Raw: 'raw',
  Comment: 'comment',
} as const;
type Context = (typeof Context)[keyof typeof Context];

interface Action {
  /** The action as written, trimmed: `target`, `variables.x`. */
  readonly action: string;
  readonly field?: NameField | 'interval';
  readonly variable?: string;
  readonly context: Context;
  /** Inside the string operand of `=~` or `!~`. */
  readonly regex: boolean;
  /** Offset of `{{` in the template, for messages. */
  readonly offset: number;
}

/** Splits a template into literal text and actions, each with its lexical context. */
function scan(template: string): { parts: (string | Action)[]; issues: ValidationIssue[] } {
  const parts: (string | Action)[] = [];
  const issues: ValidationIssue[] = [];
  let context: Context = Context.Code;
  let regex = false;
  let literal = '';
  let i = 0;
  while (i < template.length) {
    if (template.startsWith('{{', i)) {
      const close = template.indexOf('}}', i + 2);
      if (close === -1) {
        issues.push({ path: `@${i}`, message: 'unclosed `{{`' });
        break;
      }
      const inner = template.slice(i + 2, close).trim();
      const match = ACTION.exec(inner);
      const field = match?.[1];
      const variable = match?.[2];
      if (field !== undefined && KNOWN_ACTIONS.has(field)) {
        parts.push(literal, {
          action: inner,
          field: field as NameField | 'interval',
          context,
          regex,
          offset: i,
        });
      } else if (variable !== undefined) {
        parts.push(literal, { action: inner, variable, context, regex, offset: i });
      } else {
        issues.push({
          path: `@${i}`,
          message:
            `unknown template action \`{{ ${inner} }}\`: use name, namespace, target, service, ` +
            'ingress, route, interval or variables.<key>',
        });
      }
      literal = '';
      i = close + 2;
      continue;
    }
    const ch = template[i] ?? '';
    literal += ch;
    i += 1;
    switch (context) {
      case Context.Code:
        if (ch === '"' || ch === "'" || ch === '`') {
          regex = /[=!]~\s*$/.test(precedingCode(parts, literal.slice(0, -1)));
          context =
            ch === '"' ? Context.DoubleQuoted : ch === "'" ? Context.SingleQuoted : Context.Raw;
        } else if (ch === '#') {
          context = Context.Comment;
        }
        break;
      case Context.DoubleQuoted:
      case Context.SingleQuoted:
        if (ch === '\\' && i < template.length && !template.startsWith('{{', i)) {
          literal += template[i] ?? '';
          i += 1;
        } else if (ch === (context === Context.DoubleQuoted ? '"' : "'")) {
          context = Context.Code;
        }
        break;
      case Context.Raw:
        if (ch === '`') context = Context.Code;
        break;
      case Context.Comment:
        if (ch === '\n') context = Context.Code;
        break;
    }
  }
  parts.push(literal);
  return { parts: parts.filter((p) => p !== ''), issues };
}

/** The template text right before a string literal opens (enough to see `=~`). */
function precedingCode(parts: readonly (string | Action)[], literal: string): string {
  const last = parts.at(-1);
  return literal === '' && typeof last === 'string' ? last : literal;
}

function lookup(action: Action, model: TemplateModel): string | undefined {
  if (action.variable !== undefined) {
    const variables = model.variables ?? {};
    return Object.hasOwn(variables, action.variable) ? variables[action.variable] : undefined;
  }
  switch (action.field) {
    case 'namespace':
      return model.namespace;
    case 'target':
      return model.target;
    case 'interval':
      return model.interval;
    case 'name':
    case 'service':
    case 'ingress':
    case 'route':
      return model[action.field] ?? model.target;
    default:
      return undefined;
  }
}

function substitute(action: Action, value: string): string | { problem: string } {
  const isName = action.field !== undefined && action.field !== 'interval';
  switch (action.context) {
    case Context.DoubleQuoted:
    case Context.SingleQuoted:
      return escapePromqlString(isName && action.regex ? escapeRegex(value) : value);
    case Context.Raw:
      return value.includes('`')
        ? { problem: `\`${action.action}\` holds a backtick and sits in a raw string` }
        : isName && action.regex
          ? escapeRegex(value)
          : value;
    case Context.Code:
    case Context.Comment:
      return PROMQL_DURATION.test(value) || NUMBER.test(value) || IDENTIFIER.test(value)
        ? value
        : {
            problem:
              `\`${action.action}\` = ${JSON.stringify(value)} sits outside a string literal, ` +
              'where only a duration (1m), a number or an identifier is allowed',
          };
  }
}
