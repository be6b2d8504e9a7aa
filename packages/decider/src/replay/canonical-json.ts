/**
 * Canonical JSON for comparing events byte for byte: object keys sorted (code-unit order), no
 * whitespace, `undefined` members dropped. Stores may reorder keys (Postgres `jsonb` does), so the
 * comparison must not depend on the order the decider happened to write them in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/** The canonical form of an event: its `type` and `data` only (metadata is not decided). */
export function canonicalEvent(event: { readonly type: string; readonly data: unknown }): string {
  return canonicalJson({ type: event.type, data: event.data });
}
