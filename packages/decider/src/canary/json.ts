/**
 * Canonical proto JSON helpers for the decider's events: Timestamps as RFC 3339 strings with
 * protobuf's fraction rules, and the removal of default values (proto3 JSON omits them), so that
 * the events the decider emits are byte-identical to `toJson(fromJson(schema, data))`.
 */

/** RFC 3339 as protobuf writes it: no fraction for whole seconds, else milliseconds. */
export function formatTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return ms % 1000 === 0 ? `${iso.slice(0, 19)}Z` : iso;
}

/** Epoch milliseconds of a proto JSON Timestamp (sub-millisecond digits are dropped). */
export function parseTimestamp(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Keys whose values are copied verbatim: maps (their entries are never defaults) and messages
 * with `optional` fields, where an explicit 0 is meaningful. */
const VERBATIM_KEYS: ReadonlySet<string> = new Set([
  'metadata',
  'templateVariables',
  'headers',
  'cookies',
  'thresholdRange',
]);

/** Keys of `optional` scalar fields (explicit presence): a 0 there is a value, kept. */
const PRESENCE_KEYS: ReadonlySet<string> = new Set(['primaryMinReplicas', 'primaryMaxReplicas']);

/**
 * Drops proto3 default values (0, false, '', empty lists, `*_UNSPECIFIED` enum names) from a
 * JSON value built by the decider. Message values stay even when empty (`scaleCanaryToZero: {}`
 * selects a oneof case).
 */
export function compact<T>(value: T): T {
  return compactValue(value) as T;
}

function compactValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(compactValue);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined || (isDefault(item) && !PRESENCE_KEYS.has(key))) continue;
    out[key] = VERBATIM_KEYS.has(key) ? item : compactValue(item);
  }
  return out;
}

function isDefault(value: unknown): boolean {
  if (value === 0 || value === false || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'string' && value.endsWith('_UNSPECIFIED');
}
