import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCacheMetrics } from '../../src/platform/cache/cache-metrics.ts';
import { createTieredCache } from '../../src/platform/cache/tiered-cache.ts';
import { createMetrics } from '../../src/platform/observability/metrics.ts';
import { adminToken, bearer, sampleMetric, settleEvents, startTestMonolith, type TestMonolith } from '../support/monolith.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.ts';
import { dropKeys, REDIS_URL } from '../support/redis.ts';

async function createProducts(m: TestMonolith, count: number): Promise<string[]> {
  const admin = bearer(await adminToken(m));
  const tag = randomBytes(3).toString('hex');
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await m.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload: { sku: `CM-${tag}-${i}`, name: `Metric ${i}`, category: 'Metrics', price: 100 } });
    ids.push(response.json<{ id: string }>().id);
  }
  return ids;
}

describe('cache metrics per tier', () => {
  it('counts L1 hits, misses, loads and evictions in the monolith, and a hit ratio', async () => {
    const m = await startTestMonolith({ CACHE_L1_MAX_ITEMS: '100' });
    try {
      const [id] = await createProducts(m, 1);
      const before = { hits: await sampleMetric(m, 'scalemart_cache_hits_total{tier="l1"}'), loads: await sampleMetric(m, 'scalemart_cache_loads_total{outcome="ok"}') };
      await m.cache.delete(`catalog:v1:detail:${id}`);
      for (let i = 0; i < 5; i++) expect((await m.app.inject({ url: `/api/v1/products/${id}` })).statusCode).toBe(200);
      expect(await sampleMetric(m, 'scalemart_cache_loads_total{outcome="ok"}') - before.loads).toBe(1);
      // Four page hits, and the one load found the stock level in L1 too.
      expect(await sampleMetric(m, 'scalemart_cache_hits_total{tier="l1"}') - before.hits).toBe(5);
      expect(await sampleMetric(m, 'scalemart_cache_misses_total')).toBeGreaterThan(0);
      expect(await sampleMetric(m, 'scalemart_cache_load_seconds_count')).toBeGreaterThan(0);
      const ratio = await sampleMetric(m, 'scalemart_cache_hit_ratio{tier="l1"}');
      expect(ratio).toBeGreaterThan(0);
      expect(ratio).toBeLessThan(1);

      // 150 product pages through an L1 of 100 entries push some out.
      const ids = await createProducts(m, 150);
      for (const other of ids) await m.app.inject({ url: `/api/v1/products/${other}` });
      expect(await sampleMetric(m, 'scalemart_cache_evictions_total{tier="l1"}')).toBeGreaterThanOrEqual(50);
    } finally {
      await m.dispose();
    }
  }, 90_000);

  describe('with a Redis L2 shared by two instances', () => {
    let database: ScratchDatabase;
    let a: TestMonolith;
    let b: TestMonolith;
    beforeAll(async () => {
      database = await createScratchDatabase();
      const env = { DATABASE_URL: database.url, CACHE_MODE: 'l1l2', REDIS_URL };
      a = await startTestMonolith(env);
      b = await startTestMonolith(env);
    });
    afterAll(async () => {
      await a?.dispose();
      await b?.dispose();
      await database?.drop();
    });

    it('counts a page loaded by one instance as an L2 hit on the other, then L1 hits', async () => {
      const [id] = await createProducts(a, 1);
      // A new product's events drop its page from both tiers on whichever instance handles them: let
      // them land before a loads the page, so the counts below are the three reads' alone.
      await settleEvents([a, b]);
      await a.app.inject({ url: `/api/v1/products/${id}` });
      const before = { l2: await sampleMetric(b, 'scalemart_cache_hits_total{tier="l2"}'), l1: await sampleMetric(b, 'scalemart_cache_hits_total{tier="l1"}'), loads: await sampleMetric(b, 'scalemart_cache_loads_total') };
      for (let i = 0; i < 3; i++) expect((await b.app.inject({ url: `/api/v1/products/${id}` })).statusCode).toBe(200);
      expect(await sampleMetric(b, 'scalemart_cache_hits_total{tier="l2"}') - before.l2).toBe(1);
      expect(await sampleMetric(b, 'scalemart_cache_hits_total{tier="l1"}') - before.l1).toBe(2);
      expect(await sampleMetric(b, 'scalemart_cache_loads_total') - before.loads).toBe(0);
      expect(await sampleMetric(b, 'scalemart_cache_hit_ratio{tier="l2"}')).toBeGreaterThan(0);
    });
  });

  it('counts L1 evictions, per-tier hits and loads on the tiered adapter itself', async () => {
    const prefix = `scalemart_test_${randomBytes(6).toString('hex')}`;
    const metrics = createMetrics({ defaultMetrics: false });
    const read = async (name: string) => Number((await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? 0);
    const writer = createTieredCache({ redisUrl: REDIS_URL, prefix, defaultTtlSeconds: 600, l1MaxItems: 100 });
    const reader = createTieredCache({ redisUrl: REDIS_URL, prefix, defaultTtlSeconds: 600, l1MaxItems: 3, observer: createCacheMetrics(metrics) });
    try {
      for (let i = 0; i < 8; i++) await writer.set(`k${i}`, i);
      // Each key once from L2 (8 entries through an L1 of 3 push 5 out), then the last one from L1.
      for (let i = 0; i < 8; i++) expect(await reader.getOrSet(`k${i}`, async () => -1)).toBe(i);
      expect(await reader.getOrSet('k7', async () => -1)).toBe(7);
      expect(await reader.getOrSet('missing', async () => 'loaded')).toBe('loaded');
      expect(await read('scalemart_cache_hits_total{tier="l2"}')).toBe(8);
      expect(await read('scalemart_cache_hits_total{tier="l1"}')).toBe(1);
      expect(await read('scalemart_cache_misses_total')).toBe(1);
      expect(await read('scalemart_cache_loads_total{outcome="ok"}')).toBe(1);
      expect(await read('scalemart_cache_evictions_total{tier="l1"}')).toBe(6);
      expect(await read('scalemart_cache_hit_ratio{tier="l2"}')).toBeCloseTo(8 / 9);
    } finally {
      await writer.close();
      await reader.close();
      await dropKeys(prefix);
    }
  });
});
