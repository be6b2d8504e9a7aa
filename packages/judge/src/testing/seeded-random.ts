/**
 * Test support only (not exported): a seeded pseudo-random generator and samplers for the
 * operating-characteristic simulations. The judge itself never draws random numbers.
 */

/** Mulberry32: a small, fast 32-bit generator; the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Binomial(n, p) by inversion of the CDF (exact, O(n·p) per draw). Large n·p is split in halves
 * so that (1 − p)^n never underflows.
 */
export function binomial(random: () => number, n: number, p: number): number {
  if (n === 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - binomial(random, n, 1 - p);
  if (n * -Math.log1p(-p) > 600) {
    const half = Math.floor(n / 2);
    return binomial(random, half, p) + binomial(random, n - half, p);
  }
  const u = random();
  const odds = p / (1 - p);
  let k = 0;
  let probability = Math.exp(n * Math.log1p(-p));
  let cumulative = probability;
  while (u > cumulative && k < n) {
    probability *= (odds * (n - k)) / (k + 1);
    k += 1;
    cumulative += probability;
  }
  return k;
}

/** Multinomial counts over `probabilities` (summing to 1) by conditional binomials. */
export function multinomial(
  random: () => number,
  n: number,
  probabilities: readonly number[],
): number[] {
  let remaining = n;
  let mass = 1;
  return probabilities.map((p, i) => {
    if (i === probabilities.length - 1) return remaining;
    const k = binomial(random, remaining, mass > 0 ? Math.min(1, p / mass) : 0);
    remaining -= k;
    mass -= p;
    return k;
  });
}
