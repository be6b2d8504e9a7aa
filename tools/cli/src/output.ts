/**
 * Output: every command answers with data (printed as JSON or YAML with `-o json|yaml`, for
 * scripts) and a text for people (`-o table`, the default): tables in the style of `kubectl get`
 * (upper-case headers, columns padded with three spaces), times in RFC 3339 to the second.
 */
import { stringify } from 'yaml';
import { usage } from './exit-codes.ts';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function outputFormat(value: string | undefined): OutputFormat {
  const format = value ?? 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) {
    throw usage(`-o ${format}: the output format must be one of ${OUTPUT_FORMATS.join(', ')}`);
  }
  return format as OutputFormat;
}

/** What a command prints: `data` for json/yaml, `text` for people. */
export interface Result {
  readonly data: unknown;
  readonly text: string;
}

export function render(result: Result, format: OutputFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(result.data, null, 2)}\n`;
    case 'yaml':
      return stringify(result.data, { lineWidth: 0 });
    default:
      return result.text === '' || result.text.endsWith('\n') ? result.text : `${result.text}\n`;
  }
}

/**
 * A table: headers upper-cased, cells padded to their column's width, three spaces apart. A cell
 * with several lines continues on the next lines, in its column.
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const split = rows.map((r) => r.map((c) => c.split('\n')));
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...split.map((r) => Math.max(0, ...(r[i] ?? []).map((l) => l.length)))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  const out = [line(headers.map((h) => h.toUpperCase()))];
  for (const row of split) {
    const height = Math.max(1, ...row.map((c) => c.length));
    for (let k = 0; k < height; k += 1) out.push(line(row.map((c) => c[k] ?? '')));
  }
  return `${out.join('\n')}\n`;
}

/** `CANARY_PHASE_WAITING_PROMOTION` → `WaitingPromotion` (Flagger's words). */
export function enumWord(value: string | undefined, prefix: string): string {
  if (value === undefined || value === '') return '';
  return value
    .replace(prefix, '')
    .toLowerCase()
    .split('_')
    .map((w) => (w === '' ? '' : `${w[0]?.toUpperCase()}${w.slice(1)}`))
    .join('');
}

export const phaseWord = (phase: string | undefined) => enumWord(phase, 'CANARY_PHASE_');
export const outcomeWord = (outcome: string | undefined) => enumWord(outcome, 'RELEASE_OUTCOME_');

/** RFC 3339 to the second (`2026-01-01T10:00:05Z`), or `-`. */
export function time(value: string | undefined): string {
  if (value === undefined || value === '') return '-';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : `${date.toISOString().slice(0, 19)}Z`;
}

/** A duration for people: `45s`, `3m10s`, `2h05m`. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A progress bar of `width` cells for a fraction in 0..1. */
export function bar(fraction: number, width = 20): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}
