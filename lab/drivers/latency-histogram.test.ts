import { describe, expect, it } from 'vitest';
import { createLatencyHistogram } from './latency-histogram.ts';
import { isLoopbackUrl } from './loopback.ts';

// HdrHistogram keeps 3 significant digits: a percentile may be off by up to 0.1 %.
const near = (actual: number, expected: number) => expect(Math.abs(actual - expected)).toBeLessThanOrEqual(expected * 0.001 + 0.001);

describe('latency histogram', () => {
  it('reports the percentiles of what it recorded, in milliseconds', () => {
    const histogram = createLatencyHistogram();
    for (let ms = 1; ms <= 1000; ms++) histogram.record(ms);
    const summary = histogram.summary();
    expect(summary.count).toBe(1000);
    near(summary.p50, 500);
    near(summary.p90, 900);
    near(summary.p99, 990);
    near(summary.p999, 999);
    near(summary.max, 1000);
  });

  it('keeps sub-millisecond latencies to the microsecond', () => {
    const histogram = createLatencyHistogram();
    for (let i = 0; i < 99; i++) histogram.record(0.25);
    histogram.record(40);
    const summary = histogram.summary();
    near(summary.p50, 0.25);
    near(summary.p99, 0.25);
    near(summary.max, 40);
  });

  it('reports zeros when nothing was recorded', () => {
    expect(createLatencyHistogram().summary()).toEqual({ count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
  });
});

describe('loopback guard', () => {
  it('accepts only this machine', () => {
    for (const url of ['http://127.0.0.1:3000', 'http://127.4.5.6', 'http://localhost:1', 'http://[::1]:80/x']) expect(isLoopbackUrl(url)).toBe(true);
    for (const url of ['http://10.0.0.1', 'http://192.168.1.2:80', 'http://example.com', 'http://128.0.0.1', 'not a url']) expect(isLoopbackUrl(url)).toBe(false);
  });
});
