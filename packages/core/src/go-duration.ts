/**
 * Go duration strings (`time.ParseDuration`, what Flagger's `interval`, `timeout` and `bake`
 * accept): one or more decimal numbers, each with an optional fraction and a unit (`ns`, `us`,
 * `µs`, `ms`, `s`, `m`, `h`), e.g. `30s`, `1m`, `1h30m`, `1.5s`; a bare `0` is zero. The spec keeps
 * durations as integer milliseconds, so a value that is not a whole number of milliseconds is
 * rejected rather than rounded. The arithmetic is exact (BigInt), never floating point.
 */

const UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  μs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const COMPONENT = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/;
const NS_PER_MS = 1_000_000n;
const MAX_MS = BigInt(Number.MAX_SAFE_INTEGER);

export type GoDurationParse =
  | { readonly ok: true; readonly ms: number }
  | { readonly ok: false; readonly message: string };

/** Parses a non-negative Go duration into whole milliseconds. */
export function parseGoDurationMs(text: string): GoDurationParse {
  const invalid = {
    ok: false,
    message: `must be a duration such as 30s, 1m or 1h30m (got ${JSON.stringify(text)})`,
  } as const;
  if (text === '0') return { ok: true, ms: 0 };
  if (text.startsWith('-')) return { ok: false, message: `must not be negative (got ${text})` };
  let rest = text.startsWith('+') ? text.slice(1) : text;
  if (rest === '') return invalid;
  // Exact rational: total = numerator / 10^scale nanoseconds, summed over the components.
  let totalNsScaled = 0n;
  const scale = 18;
  const scaleFactor = 10n ** BigInt(scale);
  while (rest !== '') {
    const m = COMPONENT.exec(rest);
    if (!m) return invalid;
    const whole = m[1] ?? '';
    const fraction = m[2] ?? '';
    const unit = UNIT_NS[m[3] ?? ''];
    if ((whole === '' && fraction === '') || unit === undefined || fraction.length > scale) {
      return invalid;
    }
    const digits = BigInt(`${whole}${fraction}` || '0');
    totalNsScaled += (digits * unit * scaleFactor) / 10n ** BigInt(fraction.length);
    rest = rest.slice(m[0].length);
  }
  const perMs = NS_PER_MS * scaleFactor;
  if (totalNsScaled % perMs !== 0n) {
    return { ok: false, message: `must be a whole number of milliseconds (got ${text})` };
  }
  const ms = totalNsScaled / perMs;
  if (ms > MAX_MS) return { ok: false, message: `is too long (got ${text})` };
  return { ok: true, ms: Number(ms) };
}

/** Formats whole milliseconds as the shortest Go duration: `90000` → `1m30s`, `1500` → `1.5s`. */
export function formatGoDurationMs(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`not a duration in ms: ${ms}`);
  if (ms === 0) return '0s';
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const millis = ms % 60_000;
  let out = '';
  if (hours > 0) out += `${hours}h`;
  if (minutes > 0) out += `${minutes}m`;
  if (millis > 0) {
    if (millis % 1000 === 0) out += `${millis / 1000}s`;
    else if (millis < 1000) out += `${millis}ms`;
    else out += `${(millis / 1000).toFixed(3).replace(/0+$/, '')}s`;
  }
  return out;
}
