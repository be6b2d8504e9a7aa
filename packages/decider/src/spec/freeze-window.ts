import { type FreezeWindow, WEEKDAYS, type Weekday } from './types.ts';

/**
 * Freeze windows: absolute (`start`/`end` as RFC 3339 instants) or weekly recurring
 * (`weekly: {start: 'Fri 18:00', end: 'Mon 08:00', utcOffset: '+01:00'}`). Times are compared at
 * the millisecond, windows are half-open `[start, end)`, and no time-zone database is consulted
 * (a fixed UTC offset keeps the decision a pure function of the tick's `now`).
 */

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Epoch milliseconds of an RFC 3339 timestamp with an explicit offset, or an error message. */
export function parseRfc3339Ms(
  text: string,
): { ok: true; ms: number } | { ok: false; message: string } {
  const bad = {
    ok: false,
    message: `must be an RFC 3339 timestamp with an offset, e.g. 2026-12-24T00:00:00Z (got ${JSON.stringify(text)})`,
  } as const;
  const m = RFC3339.exec(text);
  if (!m) return bad;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number);
  if (
    year === undefined ||
    month === undefined ||
    day === undefined ||
    hour === undefined ||
    minute === undefined ||
    second === undefined
  ) {
    return bad;
  }
  const fraction = (m[7] ?? '').replace(/0+$/, '');
  if (fraction.length > 3) {
    return { ok: false, message: `must be a whole number of milliseconds (got ${text})` };
  }
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return bad;
  }
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return bad;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms =
    Date.UTC(year, month - 1, day, hour, minute, second, Number(fraction.padEnd(3, '0'))) -
    offsetMinutes * 60_000;
  return { ok: true, ms };
}

const WEEK_TIME = /^([A-Za-z]{3}) ([01]\d|2[0-3]):([0-5]\d)$/;
const UTC_OFFSET = /^([+-])(0\d|1[0-4]):([0-5]\d)$/;
const MINUTES_PER_WEEK = 7 * 24 * 60;

/** `Fri 18:00` → minutes since Monday 00:00, with the canonical spelling; or undefined. */
export function parseWeekTime(text: string): { minute: number; canonical: string } | undefined {
  const m = WEEK_TIME.exec(text);
  if (!m) return undefined;
  const dayText = (m[1] ?? '').toLowerCase();
  const day = WEEKDAYS.findIndex((d) => d.toLowerCase() === dayText);
  if (day === -1) return undefined;
  const hour = Number(m[2]);
  const minute = Number(m[3]);
  const name = WEEKDAYS[day] as Weekday;
  return { minute: day * 1440 + hour * 60 + minute, canonical: `${name} ${m[2]}:${m[3]}` };
}

/** `+01:00` → 60; `Z` is accepted as `+00:00`. */
export function parseUtcOffset(text: string): { minutes: number; canonical: string } | undefined {
  if (text === 'Z' || text === 'z') return { minutes: 0, canonical: '+00:00' };
  const m = UTC_OFFSET.exec(text);
  if (!m) return undefined;
  const minutes = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  return { minutes, canonical: minutes === 0 ? '+00:00' : text };
}

/** The first window (in spec order) active at `nowMs`, or undefined when waves may start. */
export function activeFreezeWindow(
  windows: readonly FreezeWindow[],
  nowMs: number,
): FreezeWindow | undefined {
  return windows.find((w) => isFrozenAt(w, nowMs));
}

export function isFrozenAt(window: FreezeWindow, nowMs: number): boolean {
  if ('startMs' in window) return nowMs >= window.startMs && nowMs < window.endMs;
  const start = parseWeekTime(window.weekly.start);
  const end = parseWeekTime(window.weekly.end);
  const offset = parseUtcOffset(window.weekly.utcOffset);
  if (start === undefined || end === undefined || offset === undefined) {
    throw new RangeError(`invalid weekly freeze window ${JSON.stringify(window.weekly)}`);
  }
  // 1970-01-01 was a Thursday: three days after a Monday.
  const localMinutes = Math.floor(nowMs / 60_000) + offset.minutes + 3 * 1440;
  const minuteOfWeek = ((localMinutes % MINUTES_PER_WEEK) + MINUTES_PER_WEEK) % MINUTES_PER_WEEK;
  if (start.minute < end.minute) return minuteOfWeek >= start.minute && minuteOfWeek < end.minute;
  return minuteOfWeek >= start.minute || minuteOfWeek < end.minute;
}
