import { Counter, Gauge, Histogram } from 'prom-client';
import type { Metrics } from '../observability/metrics.ts';
import type { CacheObserver, CacheTier } from './cache.ts';

const TIERS: readonly CacheTier[] = ['l1', 'l2'];

/**
 * Cache metrics per tier, counted in plain numbers on the hot path and handed to prom-client at
 * scrape time (a labelled `inc` per cache hit would cost more than the hit).
 */
export function createCacheMetrics(metrics: Metrics): CacheObserver {
  const counts = { hits: { l1: 0, l2: 0 }, stale: { l1: 0, l2: 0 }, evictions: { l1: 0, l2: 0 }, misses: 0, loads: { ok: 0, failed: 0 } };
  const registers = [metrics.registry];
  const loadSeconds = new Histogram({
    name: 'scalemart_cache_load_seconds',
    help: 'Time a cache miss spent loading the value (database queries and all)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
    registers,
  });

  /** A counter that reports a plain number's growth since the last scrape. */
  function counter<L extends string>(name: string, help: string, labelNames: L[], read: () => [Partial<Record<L, string>>, number][]) {
    const reported = new Map<string, number>();
    new Counter({
      name, help, labelNames, registers,
      collect() {
        for (const [labels, value] of read()) {
          const key = JSON.stringify(labels);
          const delta = value - (reported.get(key) ?? 0);
          if (delta > 0) this.inc(labels, delta);
          reported.set(key, value);
        }
      },
    });
  }
  counter('scalemart_cache_hits_total', 'Reads answered by a cache tier (stale ones included)', ['tier'], () => TIERS.map((tier) => [{ tier }, counts.hits[tier]]));
  counter('scalemart_cache_stale_served_total', 'Reads answered with a value past its TTL because loading failed (grace)', ['tier'], () => TIERS.map((tier) => [{ tier }, counts.stale[tier]]));
  counter('scalemart_cache_misses_total', 'Reads no tier could answer', [], () => [[{}, counts.misses]]);
  counter('scalemart_cache_loads_total', 'Loader runs by outcome', ['outcome'], () => [[{ outcome: 'ok' }, counts.loads.ok], [{ outcome: 'failed' }, counts.loads.failed]]);
  counter('scalemart_cache_evictions_total', 'Entries pushed out of a full tier before their TTL', ['tier'], () => [[{ tier: 'l1' }, counts.evictions.l1]]);
  new Gauge({
    name: 'scalemart_cache_hit_ratio',
    help: 'Share of reads answered: l1 of all reads, l2 of the reads L1 missed, all of all reads (since start)',
    labelNames: ['tier'] as const,
    registers,
    collect() {
      const { l1, l2 } = counts.hits;
      const reads = l1 + l2 + counts.misses;
      this.set({ tier: 'l1' }, reads === 0 ? 0 : l1 / reads);
      this.set({ tier: 'l2' }, l2 + counts.misses === 0 ? 0 : l2 / (l2 + counts.misses));
      this.set({ tier: 'all' }, reads === 0 ? 0 : (l1 + l2) / reads);
    },
  });

  return {
    hit(tier, stale) {
      counts.hits[tier]++;
      if (stale) counts.stale[tier]++;
    },
    miss: () => void counts.misses++,
    loaded(ms, ok) {
      if (ok) counts.loads.ok++;
      else counts.loads.failed++;
      loadSeconds.observe(ms / 1000);
    },
    evicted: (tier) => void counts.evictions[tier]++,
  };
}
