import { describe, expect, it } from 'vitest';
import { parseWorkCounters, sumSamples, workBetween } from './scalemart-counters.ts';

const metrics = (statements: number, l1: number, l2: number, misses: number) => `# HELP scalemart_db_statements_sent Statements sent to the database since start
# TYPE scalemart_db_statements_sent gauge
scalemart_db_statements_sent ${statements}
# HELP scalemart_db_statements_sent_later a metric whose name only starts the same
scalemart_db_statements_sent_later 999
# HELP scalemart_cache_hits_total Reads answered by a cache tier (stale ones included)
# TYPE scalemart_cache_hits_total counter
scalemart_cache_hits_total{tier="l1"} ${l1}
scalemart_cache_hits_total{tier="l2"} ${l2}
# HELP scalemart_cache_misses_total Reads no tier could answer
# TYPE scalemart_cache_misses_total counter
scalemart_cache_misses_total ${misses}
`;

describe('scalemart work counters', () => {
  it('reads statements and hits per tier, and only the named metric', () => {
    expect(parseWorkCounters(metrics(120, 90, 6, 4))).toEqual({ statements: 120, l1Hits: 90, l2Hits: 6, misses: 4, cacheMetrics: true });
    expect(sumSamples('m{a="1",b="2"} 3\nm{a="1",b="3"} 4\nm{a="2"} 5', 'm', { a: '1' })).toBe(7);
  });

  it('computes per-request work and hit ratios between two readings (L2 of what L1 missed)', () => {
    const delta = workBetween(parseWorkCounters(metrics(100, 0, 0, 0)), parseWorkCounters(metrics(150, 80, 15, 5)));
    expect(delta).toEqual({ statements: 50, l1Hits: 80, l2Hits: 15, misses: 5, l1Ratio: 0.8, l2Ratio: 0.75 });
  });

  it('says when the per-tier cache counters are missing, and refuses a /metrics without statement counts', () => {
    expect(parseWorkCounters('scalemart_db_statements_sent 7\n')).toMatchObject({ statements: 7, l1Hits: 0, cacheMetrics: false });
    expect(() => parseWorkCounters('')).toThrow(/scalemart_db_statements_sent/);
  });
});
