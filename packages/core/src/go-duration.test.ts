import { describe, expect, it } from 'vitest';
import {
  formatGoDurationMs as formatDurationMs,
  parseGoDurationMs as parseDurationMs,
} from './go-duration.ts';

describe('parseDurationMs', () => {
  it.each([
    ['0', 0],
    ['30s', 30_000],
    ['1m', 60_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    ['250ms', 250],
    ['1000000us', 1000],
    ['2h45m30.5s', 9_930_500],
    ['+10s', 10_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toEqual({ ok: true, ms });
  });

  it.each(['', '1', 'm', '1d', '1.s5', 's1', '1m 30s', 'abc'])('rejects %j', (text) => {
    expect(parseDurationMs(text).ok).toBe(false);
  });

  it('rejects negative durations and fractions of a millisecond', () => {
    expect(parseDurationMs('-1s')).toEqual({
      ok: false,
      message: 'must not be negative (got -1s)',
    });
    expect(parseDurationMs('1500us')).toEqual({
      ok: false,
      message: 'must be a whole number of milliseconds (got 1500us)',
    });
  });
});

describe('formatDurationMs', () => {
  it.each([
    [0, '0s'],
    [250, '250ms'],
    [1500, '1.5s'],
    [60_000, '1m'],
    [5_400_000, '1h30m'],
    [9_930_500, '2h45m30.5s'],
  ])('%d ms is %s and parses back', (ms, text) => {
    expect(formatDurationMs(ms)).toBe(text);
    expect(parseDurationMs(text)).toEqual({ ok: true, ms });
  });
});
