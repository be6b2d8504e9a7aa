import type { ValidationIssue } from '@aviary/core';
import { parseDurationMs } from './duration.ts';

/**
 * A small, dependency-free schema reader: it walks an untrusted value field by field, records
 * every problem with its path (`spec.analysis.stepWeights[2]`) instead of stopping at the first,
 * rejects unknown fields (with a "did you mean" for near misses), and returns fresh values that
 * share nothing with the input. `null` counts as absent, as in Kubernetes.
 */

export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };
export type JsonObject = { readonly [key: string]: JsonValue };

export class IssueList {
  readonly items: ValidationIssue[] = [];

  add(path: string, message: string): void {
    this.items.push({ path, message });
  }

  get size(): number {
    return this.items.length;
  }
}

export function childPath(base: string, key: string): string {
  return base === '' ? key : `${base}.${key}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Reads `value` as an object with only the `allowed` keys; `undefined` (reported) if it is not one. */
export function readObject(
  issues: IssueList,
  value: unknown,
  path: string,
  allowed: readonly string[],
): Fields | undefined {
  if (!isPlainObject(value)) {
    issues.add(path, 'must be an object');
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) issues.add(childPath(path, key), unknownFieldMessage(key, allowed));
  }
  return new Fields(issues, path, value);
}

export function unknownFieldMessage(key: string, allowed: readonly string[]): string {
  const near = allowed.find((candidate) => editDistance(key, candidate) <= 2);
  return near === undefined ? 'unknown field' : `unknown field (did you mean "${near}"?)`;
}

interface IntegerOptions {
  readonly min?: number;
  readonly max?: number;
  readonly required?: boolean;
}

interface StringOptions {
  readonly required?: boolean;
  /** A check returning an error message, or undefined when the value is fine. */
  readonly check?: (value: string) => string | undefined;
}

export class Fields {
  readonly issues: IssueList;
  readonly path: string;
  readonly value: Record<string, unknown>;

  constructor(issues: IssueList, path: string, value: Record<string, unknown>) {
    this.issues = issues;
    this.path = path;
    this.value = value;
  }

  at(key: string): string {
    return childPath(this.path, key);
  }

  has(key: string): boolean {
    const v = this.value[key];
    return v !== undefined && v !== null;
  }

  raw(key: string): unknown {
    const v = this.value[key];
    return v === null ? undefined : v;
  }

  private missing(key: string, required: boolean | undefined): undefined {
    if (required) this.issues.add(this.at(key), 'is required');
    return undefined;
  }

  string(key: string, options: StringOptions = {}): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return this.missing(key, options.required);
    if (typeof v !== 'string') {
      this.issues.add(this.at(key), 'must be a string');
      return undefined;
    }
    if (v === '' && options.required) {
      this.issues.add(this.at(key), 'must not be empty');
      return undefined;
    }
    const problem = options.check?.(v);
    if (problem !== undefined) {
      this.issues.add(this.at(key), problem);
      return undefined;
    }
    return v;
  }

  integer(key: string, options: IntegerOptions = {}): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return this.missing(key, options.required);
    return checkInteger(this.issues, v, this.at(key), options);
  }

  number(key: string): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.issues.add(this.at(key), 'must be a number');
      return undefined;
    }
    return v;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') {
      this.issues.add(this.at(key), 'must be true or false');
      return fallback;
    }
    return v;
  }

  oneOf<T extends string>(key: string, values: readonly T[], required = false): T | undefined {
    const v = this.raw(key);
    if (v === undefined) return this.missing(key, required);
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      this.issues.add(this.at(key), `must be one of: ${values.join(', ')} (got ${show(v)})`);
      return undefined;
    }
    return v as T;
  }

  /**
   * A duration given either as a Go duration string under `key` (`interval: 1m`) or as integer
   * milliseconds under `msKey` (`intervalMs: 60000`, the normalized form). Both at once is an error.
   */
  duration(key: string, msKey: string, options: { required?: boolean } = {}): number | undefined {
    const text = this.raw(key);
    const ms = this.raw(msKey);
    if (text !== undefined && ms !== undefined) {
      this.issues.add(this.at(msKey), `set either ${key} or ${msKey}, not both`);
      return undefined;
    }
    if (ms !== undefined) return checkInteger(this.issues, ms, this.at(msKey), { min: 0 });
    if (text === undefined) return this.missing(key, options.required);
    if (typeof text !== 'string') {
      this.issues.add(this.at(key), 'must be a duration string such as 30s, 1m or 1h30m');
      return undefined;
    }
    const parsed = parseDurationMs(text);
    if (!parsed.ok) {
      this.issues.add(this.at(key), parsed.message);
      return undefined;
    }
    return parsed.ms;
  }

  /** A list; returns its items with their paths (`undefined` when absent or not a list). */
  list(
    key: string,
    required = false,
  ): { readonly value: unknown; readonly path: string }[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return this.missing(key, required);
    if (!Array.isArray(v)) {
      this.issues.add(this.at(key), 'must be a list');
      return undefined;
    }
    return v.map((item: unknown, i) => ({ value: item, path: `${this.at(key)}[${i}]` }));
  }

  object(key: string, allowed: readonly string[], required = false): Fields | undefined {
    const v = this.raw(key);
    if (v === undefined) return this.missing(key, required);
    return readObject(this.issues, v, this.at(key), allowed);
  }

  /** A map of strings to strings (labels, metadata, template variables). */
  stringMap(
    key: string,
    check?: (k: string, v: string) => string | undefined,
  ): Record<string, string> | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!isPlainObject(v)) {
      this.issues.add(this.at(key), 'must be a map of strings');
      return undefined;
    }
    const entries: [string, string][] = [];
    for (const [k, item] of Object.entries(v)) {
      const path = childPath(this.at(key), k);
      if (typeof item !== 'string') {
        this.issues.add(path, 'must be a string');
        continue;
      }
      const problem = check?.(k, item);
      if (problem !== undefined) this.issues.add(path, problem);
      else entries.push([k, item]);
    }
    return Object.fromEntries(entries);
  }

  stringList(key: string, check?: (v: string) => string | undefined): string[] | undefined {
    const items = this.list(key);
    if (items === undefined) return undefined;
    const out: string[] = [];
    for (const item of items) {
      if (typeof item.value !== 'string' || item.value === '') {
        this.issues.add(item.path, 'must be a non-empty string');
        continue;
      }
      const problem = check?.(item.value);
      if (problem !== undefined) this.issues.add(item.path, problem);
      else out.push(item.value);
    }
    return out;
  }

  /** Any JSON value, deep-copied (for pass-through router objects such as Istio's `retries`). */
  json(key: string): JsonValue | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    return copyJson(this.issues, v, this.at(key));
  }
}

export function checkInteger(
  issues: IssueList,
  value: unknown,
  path: string,
  options: IntegerOptions = {},
): number | undefined {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    issues.add(path, `must be an integer (got ${show(value)})`);
    return undefined;
  }
  const { min, max } = options;
  if (min !== undefined && max !== undefined && (value < min || value > max)) {
    issues.add(path, `must be between ${min} and ${max} (got ${value})`);
    return undefined;
  }
  if (min !== undefined && value < min) {
    issues.add(path, `must be at least ${min} (got ${value})`);
    return undefined;
  }
  if (max !== undefined && value > max) {
    issues.add(path, `must be at most ${max} (got ${value})`);
    return undefined;
  }
  return value;
}

export function copyJson(issues: IssueList, value: unknown, path: string): JsonValue | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    issues.add(path, 'must be a finite number');
    return undefined;
  }
  if (Array.isArray(value)) {
    const out: JsonValue[] = [];
    value.forEach((item: unknown, i) => {
      const copy = copyJson(issues, item, `${path}[${i}]`);
      if (copy !== undefined) out.push(copy);
    });
    return out;
  }
  if (isPlainObject(value)) {
    const entries: [string, JsonValue][] = [];
    for (const [k, item] of Object.entries(value)) {
      const copy = copyJson(issues, item, childPath(path, k));
      if (copy !== undefined) entries.push([k, copy]);
    }
    return Object.fromEntries(entries);
  }
  issues.add(path, 'must be JSON data');
  return undefined;
}

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (isPlainObject(value)) return 'an object';
  return String(value);
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      current.push(
        Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost),
      );
    }
    previous = current;
  }
  return previous[y.length] ?? 3;
}
