/**
 * A provider's request budget for one rate limit (Datadog's `X-RateLimit-Name`), kept in step
 * with the headers of every response. Datadog's windows are fixed and calendar-aligned, so this
 * is a window budget, not a leaky bucket: `remaining` requests until `resetAtMs`, then `limit`
 * again. The organisation's budget is shared with other tools, so the headers are the truth and
 * local counting only bridges the gap between two responses.
 *
 * Priorities keep the end of the window for the checks that matter most:
 * - `rollback` (P0): checks that could roll a canary back; may spend the whole budget.
 * - `promotion` (P1): checks that complete a step; leave `reserveRollbackFraction` of the limit.
 * - `routine` (P2): early or low-weight monitoring; also leave `reservePromotionFraction`, and
 *   must not run ahead of the window's pace.
 *
 * Pure: every method takes the time; nothing here reads a clock.
 */

export const Priority = {
  Rollback: 'rollback',
  Promotion: 'promotion',
  Routine: 'routine',
} as const;
export type Priority = (typeof Priority)[keyof typeof Priority];

export interface WindowBudgetOptions {
  /** The limit's name (`X-RateLimit-Name`), or a stand-in until a response names it. */
  readonly name: string;
  /** Requests per period before any header was seen (Datadog's documented 1,600 per hour). */
  readonly limit?: number;
  readonly periodSeconds?: number;
  /** Share of the limit only rollback-relevant checks may use (default 0.2). */
  readonly reserveRollbackFraction?: number;
  /** Further share routine checks leave to promotion checks (default 0.2). */
  readonly reservePromotionFraction?: number;
}

/** What a response said about the limit; header names are matched case-insensitively. */
export type RateLimitHeaders = Readonly<Record<string, string | null | undefined>>;

export interface BudgetState {
  readonly name: string;
  readonly limit: number;
  readonly periodSeconds: number;
  readonly remaining: number;
  readonly resetAtMs: number;
  /** After a 429: nothing may be spent before this time, whatever the counts say. */
  readonly blockedUntilMs: number;
}

export type SpendDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterMs: number; readonly reason: string };

export class WindowBudget {
  #name: string;
  #limit: number;
  #periodSeconds: number;
  #remaining: number;
  #resetAtMs: number | undefined;
  #blockedUntilMs = 0;
  readonly #reserveRollback: number;
  readonly #reservePromotion: number;

  constructor(options: WindowBudgetOptions) {
    this.#name = options.name;
    this.#limit = options.limit ?? 1600;
    this.#periodSeconds = options.periodSeconds ?? 3600;
    this.#remaining = this.#limit;
    this.#reserveRollback = options.reserveRollbackFraction ?? 0.2;
    this.#reservePromotion = options.reservePromotionFraction ?? 0.2;
  }

  get name(): string {
    return this.#name;
  }

  state(nowMs: number): BudgetState {
    this.#roll(nowMs);
    return {
      name: this.#name,
      limit: this.#limit,
      periodSeconds: this.#periodSeconds,
      remaining: this.#remaining,
      resetAtMs: this.#resetAt(nowMs),
      blockedUntilMs: this.#blockedUntilMs,
    };
  }

  /** May a request of this priority go now? Does not spend. */
  canSpend(priority: Priority, nowMs: number): SpendDecision {
    this.#roll(nowMs);
    const resetAt = this.#resetAt(nowMs);
    if (nowMs < this.#blockedUntilMs) {
      return {
        allowed: false,
        retryAfterMs: this.#blockedUntilMs - nowMs,
        reason: 'throttled by the provider',
      };
    }
    const reserve = this.#reserveFor(priority);
    if (this.#remaining <= reserve) {
      return {
        allowed: false,
        retryAfterMs: Math.max(1, resetAt - nowMs),
        reason:
          this.#remaining === 0
            ? 'budget spent for this window'
            : `the last ${reserve} requests of the window are kept for higher-priority checks`,
      };
    }
    if (priority === Priority.Routine) {
      // Routine checks may not run ahead of the window: the share of the usable budget spent
      // must not exceed the share of the window elapsed (plus one request of slack).
      const periodMs = this.#periodSeconds * 1000;
      const elapsed = 1 - Math.max(0, resetAt - nowMs) / periodMs;
      const usable = this.#limit - this.#reserveFor(Priority.Routine);
      const spent = this.#limit - this.#remaining;
      if (spent > elapsed * usable + 1) {
        const paceMs = periodMs / Math.max(1, usable);
        return {
          allowed: false,
          retryAfterMs: Math.ceil(paceMs),
          reason: 'routine checks are paced over the window',
        };
      }
    }
    return { allowed: true };
  }

  /** Counts one request attempt (every attempt, whatever its answer). */
  spend(nowMs: number): void {
    this.#roll(nowMs);
    this.#remaining = Math.max(0, this.#remaining - 1);
  }

  /**
   * Brings the budget in line with a response: its `X-RateLimit-*` headers when present, and a
   * 429 blocks spending until the reset (or `Retry-After`, whichever is later).
   */
  observe(status: number, headers: RateLimitHeaders, nowMs: number): void {
    const header = (name: string): number | undefined => {
      const wanted = name.toLowerCase();
      for (const [key, value] of Object.entries(headers)) {
        if (
          key.toLowerCase() === wanted &&
          value !== null &&
          value !== undefined &&
          value.trim() !== ''
        ) {
          const n = Number(value);
          return Number.isFinite(n) && n >= 0 ? n : undefined;
        }
      }
      return undefined;
    };
    const name = Object.entries(headers).find(([k]) => k.toLowerCase() === 'x-ratelimit-name')?.[1];
    if (typeof name === 'string' && name.trim() !== '') this.#name = name.trim();
    const limit = header('x-ratelimit-limit');
    const period = header('x-ratelimit-period');
    const remaining = header('x-ratelimit-remaining');
    const reset = header('x-ratelimit-reset');
    if (limit !== undefined && limit > 0) this.#limit = Math.floor(limit);
    if (period !== undefined && period > 0) this.#periodSeconds = period;
    if (reset !== undefined) this.#resetAtMs = nowMs + reset * 1000;
    if (remaining !== undefined) this.#remaining = Math.min(this.#limit, Math.floor(remaining));
    if (status === 429) {
      this.#remaining = 0;
      const retryAfter = header('retry-after');
      const until = Math.max(
        this.#resetAt(nowMs),
        retryAfter === undefined ? 0 : nowMs + retryAfter * 1000,
      );
      this.#blockedUntilMs = Math.max(this.#blockedUntilMs, until);
    }
  }

  #reserveFor(priority: Priority): number {
    switch (priority) {
      case Priority.Rollback:
        return 0;
      case Priority.Promotion:
        return Math.ceil(this.#limit * this.#reserveRollback);
      case Priority.Routine:
        return Math.ceil(this.#limit * (this.#reserveRollback + this.#reservePromotion));
      default: {
        const never: never = priority;
        throw new Error(`unknown priority ${String(never)}`);
      }
    }
  }

  /** The end of the current window: from the last header, else the calendar-aligned period. */
  #resetAt(nowMs: number): number {
    if (this.#resetAtMs !== undefined) return this.#resetAtMs;
    const periodMs = this.#periodSeconds * 1000;
    return (Math.floor(nowMs / periodMs) + 1) * periodMs;
  }

  /** A new window starts at the reset: the full limit again. */
  #roll(nowMs: number): void {
    const periodMs = this.#periodSeconds * 1000;
    if (this.#resetAtMs === undefined) {
      this.#resetAtMs = this.#resetAt(nowMs);
      return;
    }
    if (nowMs < this.#resetAtMs) return;
    const windows = Math.floor((nowMs - this.#resetAtMs) / periodMs) + 1;
    this.#resetAtMs += windows * periodMs;
    this.#remaining = this.#limit;
  }
}

/** Steps a routine check may widen to, in order, when the budget cannot carry it at its own. */
export const ROUTINE_STEP_FACTORS = [1, 2, 5] as const;

/**
 * Under pressure, routine checks query less often instead of failing: the smallest widening of
 * `baseStepMs` (×1, ×2, ×5) whose projected requests until the window's reset fit the routine
 * share of what remains. `requestsPerStep` is how many requests one round of routine checks
 * costs. Counts accumulate over the wider window, so the sequential test stays valid; only
 * detection is slower. Returns the widest step when even that does not fit.
 */
export function routineStepMs(
  baseStepMs: number,
  requestsPerStep: number,
  state: BudgetState,
  nowMs: number,
  reserveFraction = 0.4,
): number {
  const usable = Math.max(0, state.remaining - Math.ceil(state.limit * reserveFraction));
  const untilReset = Math.max(0, state.resetAtMs - nowMs);
  for (const factor of ROUTINE_STEP_FACTORS) {
    const step = baseStepMs * factor;
    const rounds = Math.ceil(untilReset / step);
    if (rounds * requestsPerStep <= usable) return step;
  }
  return baseStepMs * (ROUTINE_STEP_FACTORS.at(-1) ?? 1);
}
