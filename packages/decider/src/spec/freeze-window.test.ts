import { describe, expect, it } from 'vitest';
import { activeFreezeWindow, isFrozenAt, parseRfc3339Ms } from './freeze-window.ts';
import type { FreezeWindow } from './types.ts';

const at = (iso: string) => Date.parse(iso);

describe('parseRfc3339Ms', () => {
  it('honours the offset and milliseconds', () => {
    expect(parseRfc3339Ms('2026-12-24T01:00:00+01:00')).toEqual({
      ok: true,
      ms: at('2026-12-24T00:00:00Z'),
    });
    expect(parseRfc3339Ms('2026-12-24T00:00:00.250Z')).toEqual({
      ok: true,
      ms: at('2026-12-24T00:00:00.250Z'),
    });
  });

  it.each(['2026-12-24', '2026-12-24T00:00:00', '2026-02-30T00:00:00Z', '2026-12-24T24:00:00Z'])(
    'rejects %s',
    (text) => {
      expect(parseRfc3339Ms(text).ok).toBe(false);
    },
  );
});

describe('weekly freeze windows', () => {
  const weekend: FreezeWindow = {
    name: 'weekend',
    weekly: { start: 'Fri 18:00', end: 'Mon 08:00', utcOffset: '+01:00' },
  };

  it('wraps over the end of the week, half-open, at the given offset', () => {
    // 2026-07-24 is a Friday.
    expect(isFrozenAt(weekend, at('2026-07-24T16:59:59.999Z'))).toBe(false);
    expect(isFrozenAt(weekend, at('2026-07-24T17:00:00Z'))).toBe(true);
    expect(isFrozenAt(weekend, at('2026-07-26T12:00:00Z'))).toBe(true);
    expect(isFrozenAt(weekend, at('2026-07-27T06:59:59Z'))).toBe(true);
    expect(isFrozenAt(weekend, at('2026-07-27T07:00:00Z'))).toBe(false);
    expect(isFrozenAt(weekend, at('2026-07-29T12:00:00Z'))).toBe(false);
  });

  it('returns the first active window', () => {
    const christmas: FreezeWindow = {
      startMs: at('2026-12-24T00:00:00Z'),
      endMs: at('2026-12-27T00:00:00Z'),
    };
    expect(activeFreezeWindow([christmas, weekend], at('2026-12-25T12:00:00Z'))).toBe(christmas);
    expect(activeFreezeWindow([christmas, weekend], at('2026-12-27T00:00:00Z'))).toBe(weekend);
    expect(activeFreezeWindow([christmas], at('2026-12-27T00:00:00Z'))).toBeUndefined();
  });
});
