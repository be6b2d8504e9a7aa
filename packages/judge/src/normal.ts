import { ValidationError } from '@aviary/core';

/**
 * The standard normal distribution, implemented here so the judge depends on nothing.
 *
 * - `normalQuantile`: Wichura's algorithm AS241 (PPND16), Applied Statistics 37(3) 1988,
 *   relative accuracy about 1e-16 over (0, 1) (the same algorithm as Python's
 *   `statistics.NormalDist.inv_cdf` and R's `qnorm`). The coefficients are AS241's 20-digit ones
 *   written as their nearest doubles.
 * - `normalCdf`: Marsaglia's Taylor series (J. Stat. Softw. 11(4), 2004) for |x| ≤ 3, absolute
 *   error about 1e-16; a continued fraction for the Mills ratio in the tails, so that tiny tail
 *   probabilities keep their relative accuracy (Φ(−8) ≈ 6.22e-16 to ~1e-14 relative).
 */

/** Φ⁻¹(p): the x with P(Z ≤ x) = p. Returns −∞ at 0 and +∞ at 1. */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) {
    throw new ValidationError('normal quantile', [
      { path: 'p', message: `must be a probability in [0, 1], got ${p}` },
    ]);
  }
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    const num =
      (((((((2509.0809287301227 * r + 33430.57558358813) * r + 67265.7709270087) * r +
        45921.95393154987) *
        r +
        13731.69376550946) *
        r +
        1971.5909503065513) *
        r +
        133.14166789178438) *
        r +
        3.3871328727963665) *
      q;
    const den =
      ((((((5226.495278852854 * r + 28729.085735721943) * r + 39307.89580009271) * r +
        21213.794301586597) *
        r +
        5394.196021424751) *
        r +
        687.1870074920579) *
        r +
        42.31333070160091) *
        r +
      1;
    return num / den;
  }
  let r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  let x: number;
  if (r <= 5) {
    r -= 1.6;
    const num =
      ((((((0.0007745450142783414 * r + 0.022723844989269184) * r + 0.2417807251774506) * r +
        1.2704582524523684) *
        r +
        3.6478483247632045) *
        r +
        5.769497221460691) *
        r +
        4.630337846156546) *
        r +
      1.4234371107496835;
    const den =
      ((((((1.0507500716444169e-9 * r + 0.0005475938084995345) * r + 0.015198666563616457) * r +
        0.14810397642748008) *
        r +
        0.6897673349851) *
        r +
        1.6763848301838038) *
        r +
        2.053191626637759) *
        r +
      1;
    x = num / den;
  } else {
    r -= 5;
    const num =
      ((((((2.0103343992922881e-7 * r + 0.000027115555687434876) * r + 0.0012426609473880784) * r +
        0.026532189526576124) *
        r +
        0.29656057182850487) *
        r +
        1.7848265399172913) *
        r +
        5.463784911164114) *
        r +
      6.657904643501103;
    const den =
      ((((((2.0442631033899397e-15 * r + 1.421511758316446e-7) * r + 0.000018463183175100548) * r +
        0.0007868691311456133) *
        r +
        0.014875361290850615) *
        r +
        0.1369298809227358) *
        r +
        0.599832206555888) *
        r +
      1;
    x = num / den;
  }
  return q < 0 ? -x : x;
}

const LOG_SQRT_2PI = 0.9189385332046728;

/** Φ(x) = P(Z ≤ x). */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < -3) return lowerTail(-x);
  if (x > 3) return 1 - lowerTail(x);
  // Marsaglia: Φ(x) = ½ + φ(x)·(x + x³/3 + x⁵/(3·5) + …).
  let sum = x;
  let term = x;
  const x2 = x * x;
  for (let i = 3; ; i += 2) {
    term *= x2 / i;
    const next = sum + term;
    if (next === sum) break;
    sum = next;
  }
  return 0.5 + sum * Math.exp(-0.5 * x2 - LOG_SQRT_2PI);
}

/** P(Z > t) for t > 3: φ(t) / (t + 1/(t + 2/(t + 3/(t + …)))), evaluated from the back. */
function lowerTail(t: number): number {
  if (t === Number.POSITIVE_INFINITY) return 0;
  let fraction = t;
  for (let k = 60; k >= 1; k--) fraction = t + k / fraction;
  return Math.exp(-0.5 * t * t - LOG_SQRT_2PI) / fraction;
}
