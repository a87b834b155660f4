import { describe, expect, it } from 'vitest';
import { createRandom, createZipf, seededShuffle, zipfCdf } from './zipf.ts';

const draw = (sample: () => number, count: number) => Array.from({ length: count }, sample);

describe('seeded random', () => {
  it('repeats exactly for a seed and differs across seeds', () => {
    expect(draw(createRandom(7), 50)).toEqual(draw(createRandom(7), 50));
    expect(draw(createRandom(7), 50)).not.toEqual(draw(createRandom(8), 50));
  });

  it('stays in [0, 1)', () => {
    for (const x of draw(createRandom(1), 10_000)) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('zipf sampler', () => {
  it('repeats exactly for a seed', () => {
    const a = createZipf(1000, 1, createRandom(7));
    const b = createZipf(1000, 1, createRandom(7));
    expect(draw(a, 1000)).toEqual(draw(b, 1000));
  });

  it('gives rank 1 its theoretical share 1/H(n), rank 2 half of that, and stays in range', () => {
    const n = 1000;
    const draws = 100_000;
    const harmonic = zipfCdf(n, 1)[n - 1]!;
    const counts = new Uint32Array(n);
    for (const rank of draw(createZipf(n, 1, createRandom(1)), draws)) {
      expect(Number.isInteger(rank) && rank >= 0 && rank < n).toBe(true);
      counts[rank]!++;
    }
    // p₁ = 1/H(1000) ≈ 0.1336; the standard error at 100 000 draws is ≈ 0.001.
    expect(counts[0]! / draws).toBeCloseTo(1 / harmonic, 2);
    expect(counts[1]! / draws).toBeCloseTo(1 / (2 * harmonic), 2);
  });

  it('is uniform at exponent 0 and steeper above 1', () => {
    const uniform = draw(createZipf(4, 0, createRandom(3)), 40_000);
    for (let rank = 0; rank < 4; rank++) expect(uniform.filter((r) => r === rank).length / 40_000).toBeCloseTo(0.25, 1);
    const steep = draw(createZipf(1000, 2, createRandom(3)), 20_000);
    // 1/ζ(2)-ish: about 61 % of draws hit rank 1 at s = 2.
    expect(steep.filter((r) => r === 0).length / 20_000).toBeCloseTo(1 / zipfCdf(1000, 2)[999]!, 1);
  });

  it('rejects an empty key space or a negative exponent', () => {
    expect(() => createZipf(0)).toThrow(RangeError);
    expect(() => createZipf(10, -1)).toThrow(RangeError);
  });
});

describe('seeded shuffle', () => {
  it('is a permutation that repeats for a seed and leaves its input alone', () => {
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    const a = seededShuffle(keys, createRandom(5));
    expect(a).toEqual(seededShuffle(keys, createRandom(5)));
    expect(a).not.toEqual(keys);
    expect([...a].sort()).toEqual([...keys].sort());
    expect(keys[0]).toBe('k0');
  });
});
