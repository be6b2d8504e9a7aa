import type { Prng } from './prng.ts';

/**
 * How a version answers requests, chosen by annotations on its pod template (so every Pod of a
 * ReplicaSet answers alike, and a new template, a new version, can answer differently).
 */
export const TrafficAnnotation = {
  /** Fraction of requests answered with `error-code`, `"0.05"` = 5 %; 0 unless told. */
  errorRate: 'sim.aviary.dev/error-rate',
  /** The status code of those errors; 500 unless told. */
  errorCode: 'sim.aviary.dev/error-code',
  /**
   * Latency in ms, lognormal: `p50=20,p99=120`, or `mean=30,sd=10`, or one number (the median,
   * p99 three times it). `p50=10,p99=50` unless told.
   */
  latencyMs: 'sim.aviary.dev/latency-ms',
} as const;

export interface VersionBehaviour {
  readonly errorRate: number;
  readonly errorCode: number;
  /** ln-space parameters of the latency in ms. */
  readonly latencyMu: number;
  readonly latencySigma: number;
}

/** z of the 99th percentile of a standard normal. */
const Z99 = 2.3263478740408408;

function lognormalFromPercentiles(p50: number, p99: number): { mu: number; sigma: number } {
  const median = Math.max(p50, 0.001);
  return {
    mu: Math.log(median),
    sigma: Math.max(Math.log(Math.max(p99, median) / median), 0) / Z99,
  };
}

function parseLatency(text: string | undefined): { mu: number; sigma: number } {
  const fallback = lognormalFromPercentiles(10, 50);
  if (text === undefined || text.trim() === '') return fallback;
  const single = Number(text);
  if (Number.isFinite(single) && single > 0) return lognormalFromPercentiles(single, 3 * single);
  const parts = new Map<string, number>();
  for (const part of text.split(',')) {
    const [key, value] = part.split('=').map((s) => s.trim());
    const number = Number(value);
    if (key !== undefined && key !== '' && Number.isFinite(number) && number >= 0) {
      parts.set(key, number);
    }
  }
  const p50 = parts.get('p50');
  const p99 = parts.get('p99');
  if (p50 !== undefined) return lognormalFromPercentiles(p50, p99 ?? 3 * p50);
  const mean = parts.get('mean');
  if (mean !== undefined && mean > 0) {
    const sd = parts.get('sd') ?? mean / 2;
    const sigma2 = Math.log(1 + (sd * sd) / (mean * mean));
    return { mu: Math.log(mean) - sigma2 / 2, sigma: Math.sqrt(sigma2) };
  }
  return fallback;
}

export function versionBehaviourOf(
  annotations: Readonly<Record<string, string>>,
): VersionBehaviour {
  const rate = Number(annotations[TrafficAnnotation.errorRate] ?? '0');
  const code = Number(annotations[TrafficAnnotation.errorCode] ?? '500');
  const { mu, sigma } = parseLatency(annotations[TrafficAnnotation.latencyMs]);
  return {
    errorRate: Number.isFinite(rate) ? Math.min(Math.max(rate, 0), 1) : 0,
    errorCode: Number.isInteger(code) && code >= 100 && code <= 599 ? code : 500,
    latencyMu: mu,
    latencySigma: sigma,
  };
}

/** One answer: a status code and a latency in ms. */
export function answer(
  behaviour: VersionBehaviour,
  rng: Prng,
): { readonly code: number; readonly latencyMs: number } {
  const code = rng.next() < behaviour.errorRate ? behaviour.errorCode : 200;
  const latencyMs = Math.exp(behaviour.latencyMu + behaviour.latencySigma * rng.normal());
  return { code, latencyMs };
}
