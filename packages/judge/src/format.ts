/**
 * Deterministic number formatting for verdict messages. `toLocaleString` depends on the ICU data
 * and locale of the process, so it is not used: the same inputs give the same message everywhere.
 */

/** 1204 → "1,204". */
export function formatCount(n: number): string {
  const [whole, fraction] = String(n).split('.');
  const grouped = (whole ?? '').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}

/** 0.9720 as a percent with two decimals: "97.20%". */
export function formatPercent(percent: number, digits = 2): string {
  return `${percent.toFixed(digits)}%`;
}

/** A threshold as written by the operator: 99 → "99", 0.5 → "0.5". */
export function formatNumber(x: number): string {
  if (Number.isInteger(x) || !Number.isFinite(x)) return String(x);
  return String(Number(x.toPrecision(6)));
}

/** "1 request" / "1,204 requests". */
export function formatRequests(n: number): string {
  return `${formatCount(n)} ${n === 1 ? 'request' : 'requests'}`;
}

/** A positive statistic that may be huge or tiny: 3.2 → "3.2", 8.6e35 → "8.60e+35". */
export function formatScientific(x: number): string {
  if (x === 0 || !Number.isFinite(x)) return String(x);
  if (x >= 1e4 || x < 1e-3) return x.toExponential(2);
  return String(Number(x.toPrecision(3)));
}

/** An e-value given by its natural log (it can exceed the double range): "8.60e+35", "e^812". */
export function formatEValue(logEValue: number): string {
  const x = Math.exp(logEValue);
  return Number.isFinite(x) ? formatScientific(x) : `e^${Math.round(logEValue)}`;
}
