/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/** The seed every scenario uses unless it says otherwise, so runs on any machine draw the same keys. */
export const DEFAULT_SEED = 42;

/**
 * mulberry32: a small, fast, seedable PRNG (32-bit state, period 2^32), so a workload repeats
 * exactly for a seed. Math.random cannot be seeded, which would make two targets see different keys.
 */
export function createRandom(seed: number = DEFAULT_SEED): Random {
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
 * Cumulative weights of ranks 0..n-1 with weight 1/(rank+1)^s, unnormalised: the last entry is the
 * generalised harmonic number H(n, s).
 */
export function zipfCdf(n: number, s: number): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`zipf: n must be a positive integer, got ${n}`);
  if (!Number.isFinite(s) || s < 0) throw new RangeError(`zipf: exponent must be ≥ 0, got ${s}`);
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += 1 / (i + 1) ** s;
    cdf[i] = total;
  }
  return cdf;
}

/**
 * Samples ranks 0..n-1 (0 the most popular) with probability ∝ 1/(rank+1)^s: a few products are
 * hot and most are cold, as in real catalogs. O(n) to build, O(log n) per draw: one uniform number,
 * then a binary search for the first CDF entry at or above it (inverse-transform sampling).
 */
export function createZipf(n: number, s = 1.0, random: Random = createRandom()): () => number {
  const cdf = zipfCdf(n, s);
  const total = cdf[n - 1]!;
  return () => {
    const target = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! <= target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * A seeded Fisher–Yates shuffle (a new array): maps Zipf ranks onto keys so the hot keys are spread
 * over the catalog, as in a real shop, instead of being the first ones created.
 */
export function seededShuffle<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
