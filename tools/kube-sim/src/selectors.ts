import { badRequest } from './errors.ts';

/**
 * Label and field selectors as the API server parses them (`labels.Parse`, `fields.ParseSelector`).
 * Label requirements: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists),
 * `!k` (does not exist), joined by commas. A malformed selector is a 400 BadRequest.
 */
export type LabelRequirement =
  | { readonly op: 'eq' | 'neq'; readonly key: string; readonly value: string }
  | { readonly op: 'in' | 'notin'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'exists' | 'notexists'; readonly key: string };

export type Labels = Readonly<Record<string, string>>;

const KEY =
  /^([a-z0-9A-Z]([a-z0-9A-Z._-]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([a-z0-9A-Z._-]*[a-z0-9A-Z])?$/;
const VALUE = /^([a-z0-9A-Z]([a-z0-9A-Z._-]*[a-z0-9A-Z])?)?$/;

/** Splits on commas that are not inside parentheses. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  terms.push(current);
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

function checkKey(key: string, selector: string): string {
  if (!KEY.test(key))
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in "${selector}"`);
  return key;
}

function checkValue(value: string, selector: string): string {
  if (!VALUE.test(value)) {
    throw badRequest(
      `unable to parse requirement: invalid label value "${value}" in "${selector}"`,
    );
  }
  return value;
}

export function parseLabelSelector(selector: string): LabelRequirement[] {
  const requirements: LabelRequirement[] = [];
  for (const term of splitTerms(selector)) {
    const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
    if (set) {
      const [, key = '', op = 'in', list = ''] = set;
      const values = list
        .split(',')
        .map((v) => v.trim())
        .map((v) => checkValue(v, selector));
      requirements.push({ op: op === 'in' ? 'in' : 'notin', key: checkKey(key, selector), values });
      continue;
    }
    const binary = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    if (binary) {
      const [, key = '', op = '=', value = ''] = binary;
      requirements.push({
        op: op === '!=' ? 'neq' : 'eq',
        key: checkKey(key, selector),
        value: checkValue(value, selector),
      });
      continue;
    }
    if (term.startsWith('!')) {
      requirements.push({ op: 'notexists', key: checkKey(term.slice(1).trim(), selector) });
      continue;
    }
    requirements.push({ op: 'exists', key: checkKey(term, selector) });
  }
  return requirements;
}

export function matchesLabels(requirements: readonly LabelRequirement[], labels: Labels): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const value = labels[r.key];
    switch (r.op) {
      case 'eq':
        return has && value === r.value;
      case 'neq':
        return !has || value !== r.value;
      case 'in':
        return has && value !== undefined && r.values.includes(value);
      case 'notin':
        return !has || value === undefined || !r.values.includes(value);
      case 'exists':
        return has;
      case 'notexists':
        return !has;
      default: {
        const never: never = r;
        return never;
      }
    }
  });
}

export interface FieldRequirement {
  readonly field: string;
  readonly op: 'eq' | 'neq';
  readonly value: string;
}

/** Fields every resource supports in a field selector, as the real server. */
export const COMMON_SELECTABLE_FIELDS = ['metadata.name', 'metadata.namespace'] as const;

/**
 * Parses `f=v`, `f==v`, `f!=v` terms; a field outside `allowed` is a 400 BadRequest
 * (`field label not supported`), like the real server.
 */
export function parseFieldSelector(
  selector: string,
  allowed: readonly string[],
): FieldRequirement[] {
  const requirements: FieldRequirement[] = [];
  for (const term of splitTerms(selector)) {
    const match = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!match) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const [, field = '', op = '=', value = ''] = match;
    if (!allowed.includes(field)) {
      throw badRequest(`field label not supported: ${field}`);
    }
    requirements.push({ field, op: op === '!=' ? 'neq' : 'eq', value });
  }
  return requirements;
}

function fieldValue(object: unknown, path: string): string {
  let current: unknown = object;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return '';
    current = (current as Record<string, unknown>)[part];
  }
  if (current === undefined || current === null) return '';
  return String(current);
}

export function matchesFields(requirements: readonly FieldRequirement[], object: unknown): boolean {
  return requirements.every((r) => {
    const value = fieldValue(object, r.field);
    return r.op === 'eq' ? value === r.value : value !== r.value;
  });
}
