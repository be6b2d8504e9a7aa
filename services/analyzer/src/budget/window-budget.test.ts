import { describe, expect, it } from 'vitest';
import { startDatadogSim } from '../../../../tools/datadog-sim/src/index.ts';
import { ConcurrencyLimiter } from './concurrency-limiter.ts';
import { Priority, routineStepMs, WindowBudget } from './window-budget.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);

/** Spends at `nowMs` while the priority may; returns how many requests went. */
function drain(budget: WindowBudget, priority: Priority, nowMs: number): number {
  let spent = 0;
  while (budget.canSpend(priority, nowMs).allowed) {
    budget.spend(nowMs);
    spent++;
  }
  return spent;
}

describe('window budget', () => {
  it('keeps the end of the window for rollback-relevant checks, then promotion checks', () => {
    const budget = new WindowBudget({ name: 'api/v1/query', limit: 100, periodSeconds: 3600 });
    const late = T0 + HOUR - 1000; // routine pacing allows nearly everything this late
    expect(drain(budget, Priority.Routine, late)).toBe(60);
    expect(budget.canSpend(Priority.Routine, late)).toMatchObject({
      allowed: false,
      retryAfterMs: 1000,
    });
    expect(drain(budget, Priority.Promotion, late)).toBe(20);
    expect(drain(budget, Priority.Rollback, late)).toBe(20);
    expect(budget.canSpend(Priority.Rollback, late)).toEqual({
      allowed: false,
      retryAfterMs: 1000,
      reason: 'budget spent for this window',
    });
    // The calendar-aligned window ends on the hour: everything is back.
    expect(budget.state(T0 + HOUR).remaining).toBe(100);
    expect(budget.canSpend(Priority.Rollback, T0 + HOUR)).toEqual({ allowed: true });
  });

  it('paces routine checks over the window instead of spending their share at once', () => {
    const budget = new WindowBudget({ name: 'q', limit: 100, periodSeconds: 3600 });
    // A quarter into the window, routine checks may have used about a quarter of their 60.
    const spent = drain(budget, Priority.Routine, T0 + HOUR / 4);
    expect(spent).toBe(17);
    const refused = budget.canSpend(Priority.Routine, T0 + HOUR / 4);
    expect(refused).toMatchObject({
      allowed: false,
      reason: 'routine checks are paced over the window',
    });
    expect(budget.canSpend(Priority.Rollback, T0 + HOUR / 4)).toEqual({ allowed: true });
  });

  it('follows the headers of every response, the budget being shared with other tools', () => {
    const budget = new WindowBudget({ name: 'guess' });
    budget.spend(T0);
    budget.observe(
      200,
      {
        'X-RateLimit-Limit': '1600',
        'X-RateLimit-Period': '3600',
        'X-RateLimit-Remaining': '12',
        'X-RateLimit-Reset': '90',
        'X-RateLimit-Name': 'metrics_query',
      },
      T0 + 1000,
    );
    expect(budget.state(T0 + 1000)).toEqual({
      name: 'metrics_query',
      limit: 1600,
      periodSeconds: 3600,
      remaining: 12,
      resetAtMs: T0 + 91_000,
      blockedUntilMs: 0,
    });
    expect(budget.canSpend(Priority.Promotion, T0 + 1000)).toMatchObject({
      allowed: false,
      retryAfterMs: 90_000,
    });
    expect(budget.canSpend(Priority.Rollback, T0 + 1000)).toEqual({ allowed: true });
    // Garbage headers change nothing.
    budget.observe(200, { 'x-ratelimit-remaining': 'many', 'x-ratelimit-reset': '-3' }, T0 + 2000);
    expect(budget.state(T0 + 2000).remaining).toBe(12);
  });

  it('blocks everything after a 429 until the reset or Retry-After, whichever is later', () => {
    const budget = new WindowBudget({ name: 'q', limit: 100 });
    budget.observe(429, { 'x-ratelimit-reset': '30', 'retry-after': '45' }, T0);
    expect(budget.canSpend(Priority.Rollback, T0 + 10_000)).toEqual({
      allowed: false,
      retryAfterMs: 35_000,
      reason: 'throttled by the provider',
    });
    expect(budget.canSpend(Priority.Rollback, T0 + 45_000)).toEqual({ allowed: true });
  });

  it('widens routine steps when the remaining budget cannot carry them', () => {
    const state = {
      name: 'q',
      limit: 1600,
      periodSeconds: 3600,
      remaining: 1600,
      resetAtMs: T0 + HOUR,
      blockedUntilMs: 0,
    };
    expect(routineStepMs(60_000, 10, state, T0)).toBe(60_000); // 600 of 960 usable
    expect(routineStepMs(60_000, 20, state, T0)).toBe(120_000); // 1,200 at 1 min; 600 at 2 min
    expect(routineStepMs(60_000, 40, state, T0)).toBe(300_000);
    expect(routineStepMs(60_000, 400, state, T0)).toBe(300_000);
  });

  it('stays in step with the Datadog simulator and stops before its 429', async () => {
    let now = T0 + 1000;
    const sim = await startDatadogSim({
      now: () => now,
      limits: { v1Query: { name: 'metrics_query', limit: 5, periodSeconds: 3600 } },
    });
    try {
      const budget = new WindowBudget({ name: 'api/v1/query' });
      let answered = 0;
      for (let i = 0; i < 10; i++) {
        if (!budget.canSpend(Priority.Rollback, now).allowed) break;
        budget.spend(now);
        const response = await fetch(`${sim.url}/api/v1/query?from=0&to=60&query=sum:x%7B*%7D`, {
          headers: { 'DD-API-KEY': 'dev-api-key', 'DD-APPLICATION-KEY': 'dev-app-key' },
        });
        budget.observe(response.status, Object.fromEntries(response.headers), now);
        expect(response.status).toBe(200);
        answered++;
        now += 1000;
      }
      expect(answered).toBe(5);
      expect(budget.state(now)).toMatchObject({ name: 'metrics_query', limit: 5, remaining: 0 });
      const wait = budget.canSpend(Priority.Rollback, now);
      expect(wait).toMatchObject({ allowed: false });
      now += wait.allowed ? 0 : wait.retryAfterMs;
      expect(budget.canSpend(Priority.Rollback, now)).toEqual({ allowed: true });
      const response = await fetch(`${sim.url}/api/v1/query?from=0&to=60&query=sum:x%7B*%7D`, {
        headers: { 'DD-API-KEY': 'dev-api-key', 'DD-APPLICATION-KEY': 'dev-app-key' },
      });
      expect(response.status).toBe(200);
    } finally {
      await sim.close();
    }
  });
});

describe('concurrency limiter (Prometheus-compatible tenants)', () => {
  it('holds requests beyond the limit, halves it on 429/503 and grows it back on success', async () => {
    const limiter = new ConcurrencyLimiter({ max: 4 });
    const releases = await Promise.all([
      limiter.acquire(),
      limiter.acquire(),
      limiter.acquire(),
      limiter.acquire(),
    ]);
    let fifth = false;
    const waiting = limiter.acquire().then((release) => {
      fifth = true;
      return release;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(fifth).toBe(false);
    releases[0]?.();
    const release5 = await waiting;
    expect(fifth).toBe(true);
    limiter.observe(503);
    expect(limiter.limit).toBe(2);
    limiter.observe(429);
    expect(limiter.limit).toBe(1);
    limiter.observe(200);
    expect(limiter.limit).toBe(2);
    for (const release of [...releases.slice(1), release5]) release?.();
    expect(limiter.inFlight).toBe(0);
  });

  it('gives up waiting when the signal aborts', async () => {
    const limiter = new ConcurrencyLimiter({ max: 1 });
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
