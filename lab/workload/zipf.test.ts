import { describe, expect, it } from 'vitest';
import { createRandom, createZipf } from './zipf.ts';

describe('zipf workload', () => {
  it('repeats exactly for a seed', () => {
    const a = createZipf(1000, 1, createRandom(7));
    const b = createZipf(1000, 1, createRandom(7));
    expect(Array.from({ length: 100 }, a)).toEqual(Array.from({ length: 100 }, b));
  });

  it('gives rank 1 its theoretical share, 1/H(n), and stays in range', () => {
    const n = 1000;
    const sample = createZipf(n, 1, createRandom(1));
    const harmonic = Array.from({ length: n }, (_, i) => 1 / (i + 1)).reduce((x, y) => x + y, 0);
    let top = 0;
    const draws = 100_000;
    for (let i = 0; i < draws; i++) {
      const rank = sample();
      expect(rank >= 0 && rank < n).toBe(true);
      if (rank === 0) top++;
    }
    expect(top / draws).toBeCloseTo(1 / harmonic, 2);
  });
});
