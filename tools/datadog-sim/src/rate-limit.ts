/** One rate limit as Datadog announces it in its `X-RateLimit-*` headers. */
export interface RateLimit {
  /** `X-RateLimit-Name`: what to ask Datadog to raise. */
  readonly name: string;
  /** Requests allowed per period and organisation. */
  readonly limit: number;
  /** Period in seconds; windows are calendar-aligned (an hourly limit resets on the hour). */
  readonly periodSeconds: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Counts requests per (organisation, limit) in calendar-aligned windows and answers with the
 * headers Datadog sends on every response: `X-RateLimit-Limit`, `-Period`, `-Remaining`,
 * `-Reset` (seconds until the window ends, not an epoch) and `-Name`.
 */
export class RateLimiter {
  readonly #windows = new Map<string, { start: number; used: number }>();

  take(organisation: string, limit: RateLimit, nowMs: number): RateDecision {
    const periodMs = limit.periodSeconds * 1000;
    const start = Math.floor(nowMs / periodMs) * periodMs;
    const key = `${organisation}\u0000${limit.name}`;
    let window = this.#windows.get(key);
    if (!window || window.start !== start) {
      window = { start, used: 0 };
      this.#windows.set(key, window);
    }
    const allowed = window.used < limit.limit;
    if (allowed) window.used++;
    return {
      allowed,
      headers: {
        'X-RateLimit-Limit': String(limit.limit),
        'X-RateLimit-Period': String(limit.periodSeconds),
        'X-RateLimit-Remaining': String(Math.max(0, limit.limit - window.used)),
        'X-RateLimit-Reset': String(Math.max(1, Math.ceil((start + periodMs - nowMs) / 1000))),
        'X-RateLimit-Name': limit.name,
      },
    };
  }
}
