import type { CountsSnapshot } from '../sequential.ts';
import { binomial } from './seeded-random.ts';

/** One simulated interval's traffic: requests per second and per-request bad probability. */
export interface IntervalTraffic {
  readonly canaryRps: number;
  readonly primaryRps: number;
  readonly canaryBadRate: number;
  readonly primaryBadRate: number;
}

/**
 * Simulates one canary checked after every interval: returns the first look (1-based) at which
 * `decide` returned each outcome, over `intervals` intervals of `intervalS` seconds.
 */
export function simulateCanary(
  random: () => number,
  traffic: (interval: number) => IntervalTraffic,
  decide: (history: readonly CountsSnapshot[]) => string,
  intervals = 30,
  intervalS = 60,
): { readonly firstFailed?: number; readonly firstSuccessful?: number } {
  const history: CountsSnapshot[] = [];
  let canary = { totalCount: 0, badCount: 0 };
  let primary = { totalCount: 0, badCount: 0 };
  let firstFailed: number | undefined;
  let firstSuccessful: number | undefined;
  for (let i = 0; i < intervals; i++) {
    const t = traffic(i);
    const nc = Math.round(t.canaryRps * intervalS);
    const np = Math.round(t.primaryRps * intervalS);
    canary = {
      totalCount: canary.totalCount + nc,
      badCount: canary.badCount + binomial(random, nc, t.canaryBadRate),
    };
    primary = {
      totalCount: primary.totalCount + np,
      badCount: primary.badCount + binomial(random, np, t.primaryBadRate),
    };
    history.push({ canary, primary });
    const outcome = decide(history);
    if (outcome === 'Failed' && firstFailed === undefined) firstFailed = i + 1;
    if (outcome === 'Successful' && firstSuccessful === undefined) firstSuccessful = i + 1;
  }
  return {
    ...(firstFailed === undefined ? {} : { firstFailed }),
    ...(firstSuccessful === undefined ? {} : { firstSuccessful }),
  };
}

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor((sorted.length - 1) / 2);
  return sorted[mid] ?? Number.NaN;
}
