/** Words and numbers for people, from the API's enum values and times. */

/**
 * `CANARY_PHASE_WAITING_PROMOTION` → `WaitingPromotion` (Flagger's phase names).
 * @param {string | undefined} phase
 */
export function phaseName(phase) {
  const rest = (phase ?? 'CANARY_PHASE_UNSPECIFIED').replace(/^CANARY_PHASE_/, '');
  if (rest === 'UNSPECIFIED') return 'Pending';
  return rest
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

/**
 * `ANALYSIS_OUTCOME_SUCCESSFUL` with prefix `ANALYSIS_OUTCOME_` → `successful`.
 * @param {string | undefined} value
 * @param {string} prefix
 */
export function enumWord(value, prefix) {
  const text = value ?? '';
  const rest = text.startsWith(prefix) ? text.slice(prefix.length) : text;
  return (rest === '' ? 'unspecified' : rest).toLowerCase().replace(/_/g, '-');
}

/**
 * `12:04:05` in local time, or the whole date when it is not today.
 * @param {string | undefined} at
 */
export function time(at) {
  if (!at) return '';
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return at;
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString([], { hour12: false }) : date.toLocaleString();
}

/**
 * A number with at most `digits` decimals, without trailing zeros.
 * @param {number | undefined} value
 * @param {number} [digits]
 */
export function num(value, digits = 2) {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return String(Number(value.toFixed(digits)));
}
