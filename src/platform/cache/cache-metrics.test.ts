import { describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../observability/metrics.ts';
import { createMemoryCache, createNoCache } from './bentocache.adapter.ts';
import { createCacheMetrics } from './cache-metrics.ts';

/** The value of one sample of the exposition text, e.g. `scalemart_cache_hits_total{tier="l1"}`; 0 when absent. */
async function sample(metrics: Metrics, name: string): Promise<number> {
  const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

const fail = async (): Promise<never> => {
  throw new Error('database down');
};

describe('cache metrics (memory adapter)', () => {
  it('counts hits, misses, loads and their time, and a hit ratio', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const cache = createMemoryCache({ defaultTtlSeconds: 60, maxItems: 100, observer: createCacheMetrics(metrics) });
    try {
      for (let i = 0; i < 4; i++) await cache.getOrSet('a', async () => 1);
      await cache.getOrSet('b', async () => 2);
      expect(await sample(metrics, 'scalemart_cache_hits_total{tier="l1"}')).toBe(3);
      expect(await sample(metrics, 'scalemart_cache_hits_total{tier="l2"}')).toBe(0);
      expect(await sample(metrics, 'scalemart_cache_misses_total')).toBe(2);
      expect(await sample(metrics, 'scalemart_cache_loads_total{outcome="ok"}')).toBe(2);
      expect(await sample(metrics, 'scalemart_cache_load_seconds_count')).toBe(2);
      expect(await sample(metrics, 'scalemart_cache_hit_ratio{tier="l1"}')).toBeCloseTo(3 / 5);
      expect(await sample(metrics, 'scalemart_cache_hit_ratio{tier="all"}')).toBeCloseTo(3 / 5);
      // Counters report growth between scrapes, not the total again.
      await cache.getOrSet('a', async () => 1);
      expect(await sample(metrics, 'scalemart_cache_hits_total{tier="l1"}')).toBe(4);
    } finally {
      await cache.close();
    }
  });

  it('counts entries pushed out of a full L1, and not the ones deleted or overwritten', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const cache = createMemoryCache({ defaultTtlSeconds: 60, maxItems: 3, observer: createCacheMetrics(metrics) });
    try {
      await cache.set('x', 0);
      await cache.set('x', 1);
      await cache.delete('x');
      expect(await sample(metrics, 'scalemart_cache_evictions_total{tier="l1"}')).toBe(0);
      for (let i = 0; i < 8; i++) await cache.getOrSet(`k${i}`, async () => i);
      expect(await sample(metrics, 'scalemart_cache_evictions_total{tier="l1"}')).toBe(5);
    } finally {
      await cache.close();
    }
  });

  it('counts a value served past its TTL because the load failed as a stale hit and a failed load', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const cache = createMemoryCache({ defaultTtlSeconds: 0.05, maxItems: 100, jitter: 0, observer: createCacheMetrics(metrics) });
    try {
      await cache.getOrSet('p', async () => 'old');
      await new Promise((r) => setTimeout(r, 80));
      expect(await cache.getOrSet('p', fail)).toBe('old');
      expect(await sample(metrics, 'scalemart_cache_stale_served_total{tier="l1"}')).toBe(1);
      expect(await sample(metrics, 'scalemart_cache_hits_total{tier="l1"}')).toBe(1);
      expect(await sample(metrics, 'scalemart_cache_loads_total{outcome="failed"}')).toBe(1);
      expect(await sample(metrics, 'scalemart_cache_loads_total{outcome="ok"}')).toBe(1);
    } finally {
      await cache.close();
    }
  });
});

describe('cache metrics with caching off', () => {
  it('counts every read as a miss and a load, so the lab can compare', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const cache = createNoCache(createCacheMetrics(metrics)).namespace('catalog');
    for (let i = 0; i < 3; i++) await cache.getOrSet('a', async () => 1);
    await expect(cache.getOrSet('b', fail)).rejects.toThrow('database down');
    expect(await sample(metrics, 'scalemart_cache_misses_total')).toBe(4);
    expect(await sample(metrics, 'scalemart_cache_loads_total{outcome="ok"}')).toBe(3);
    expect(await sample(metrics, 'scalemart_cache_loads_total{outcome="failed"}')).toBe(1);
    expect(await sample(metrics, 'scalemart_cache_load_seconds_count')).toBe(4);
    expect(await sample(metrics, 'scalemart_cache_hits_total{tier="l1"}')).toBe(0);
    expect(await sample(metrics, 'scalemart_cache_hit_ratio{tier="all"}')).toBe(0);
  });
});
