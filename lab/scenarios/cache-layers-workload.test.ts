import { describe, expect, it } from 'vitest';
import { browseSequence, MIX, type BrowseWorkload } from './cache-layers-workload.ts';

const workload: BrowseWorkload = {
  products: Array.from({ length: 1000 }, (_, i) => `/api/v1/products/p${i}`),
  categoryPages: Array.from({ length: 10 }, (_, c) => Array.from({ length: 5 }, (_, p) => `/api/v1/products?category=c${c}&page=${p}`)),
  searches: Array.from({ length: 50 }, (_, i) => `/api/v1/products?q=w${i}`),
  home: '/api/v1/products?limit=20',
};

describe('cache-layers browse workload', () => {
  it('repeats the same sequence for a seed', () => {
    const paths = browseSequence(workload, 7);
    const a = paths();
    const b = paths();
    expect(Array.from({ length: 200 }, () => a())).toEqual(Array.from({ length: 200 }, () => b()));
  });

  it('follows the mix, with the most popular product far ahead of a tail one', () => {
    const next = browseSequence(workload, 42)();
    const counts = { category: 0, search: 0, product: 0, home: 0 };
    const perProduct = new Map<string, number>();
    const draws = 90_000;
    for (let i = 0; i < draws; i++) {
      const path = next();
      if (path === workload.home) counts.home++;
      else if (path.includes('category=')) counts.category++;
      else if (path.includes('q=')) counts.search++;
      else {
        counts.product++;
        perProduct.set(path, (perProduct.get(path) ?? 0) + 1);
      }
    }
    const total = MIX.category + MIX.search + MIX.product + MIX.home;
    for (const kind of ['category', 'search', 'product', 'home'] as const) expect(counts[kind] / draws).toBeCloseTo(MIX[kind] / total, 2);
    // Zipf 1.0: rank 0 is drawn about 100 times as often as rank 99.
    expect(perProduct.get(workload.products[0]!)! / perProduct.get(workload.products[99]!)!).toBeGreaterThan(40);
  });
});
