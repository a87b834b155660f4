import { describe, expect, it } from 'vitest';
import type { ClosedLoopResult } from '../drivers/closed-loop.ts';
import type { OpenLoopResult } from '../drivers/open-loop.ts';
import type { RunSetup } from '../report.ts';
import { buildCacheLayersReport, MODES, type CacheLayersMeasurements, type CacheMode, type MeasuredRun } from './cache-layers-report.ts';

const setup: RunSetup = { commit: 'none', dirty: false, node: 'v24', stage: 'x', flags: {}, cpus: 2, cpuModel: 'x', date: '2026-01-01T00:00:00.000Z' };
const run = (rps: number, queriesPerRequest: number, l1Ratio = 0, extra: Partial<ClosedLoopResult> = {}): MeasuredRun => ({
  closed: { requestsPerSecond: rps, p50Ms: Math.round(10_000 / rps), p90Ms: 1, p99Ms: 1, completed: rps * 10, non2xx: 0, errors: 0, durationSeconds: 10, ...extra },
  work: { statements: queriesPerRequest * rps * 10, l1Hits: 0, l2Hits: 0, misses: 0, l1Ratio, l2Ratio: 0 },
  queriesPerRequest,
});
const open = (p50: number): OpenLoopResult => ({
  scheduled: 100, sent: 100, ok: 100, non2xx: 0, errors: 0, late: 0, maxSendLagMs: 0, elapsedSeconds: 1,
  ms: { count: 100, p50, p90: p50, p99: p50 * 4, p999: p50 * 5, max: p50 * 6 },
});
function measurements(closed: Record<CacheMode, MeasuredRun[]>, p50: Record<CacheMode, number[]>, cacheMetrics = true, referenceP50: number[] = []): CacheLayersMeasurements {
  return {
    options: { rounds: 3, durationSeconds: 10, warmupSeconds: 3, connections: 50, products: 100_000, rate: 2000, openLoopSeconds: 5, cpuRate: 3000, cpuRequests: 30_000, cpuSlices: 10, orderRate: 20, seed: 42 },
    catalogSize: 100_000,
    rate: 150,
    closed: new Map(MODES.map((mode) => [mode, closed[mode]])),
    open: new Map(MODES.map((mode) => [mode, p50[mode].map(open)])),
    reference: referenceP50.map(open),
    cold: new Map(),
    restarted: new Map(),
    idleStatementsPerSecond: new Map(MODES.map((mode) => [mode, 12])),
    cacheMetrics,
  };
}

describe('cache-layers report', () => {
  it('judges both bars on per-round ratios against off', () => {
    const { report, barHolds } = buildCacheLayersReport(measurements(
      { off: [run(300, 15), run(400, 16), run(350, 14)], l1: [run(3000, 0.1, 0.99), run(3100, 0.3, 0.98), run(2900, 0.05, 0.995)], l1l2: [run(2800, 0.1, 0.99), run(2900, 0.1, 0.99), run(2700, 0.1, 0.99)] },
      { off: [8, 10, 12], l1: [0.5, 0.8, 1], l1l2: [0.5, 0.5, 0.5] },
    ), setup);
    expect(barHolds).toBe(true);
    expect(report.table.rows[0]).toEqual(['off', '350', '300–400', '10.0', '40.0', '15.000', '–', '–', 0, 0]);
    expect(report.table.rows[1]).toEqual(['l1', '3000', '2900–3100', '0.80', '3.20', '0.100', '99.0 %', '–', 0, 0]);
    expect(report.verdict[0]).toBe('l1 vs off: database queries per request 99.3 % lower (per-round range 98.1–99.6 %; bar ≥ 95 %), p50 12.5× lower (range 12.0–16.0×; bar ≥ 10×): holds.');
  });

  it('reports a missed bar, and does not judge on failed answers', () => {
    const closed = { off: [run(300, 15), run(300, 15), run(300, 15)], l1: [run(3000, 1), run(3000, 1), run(3000, 1)], l1l2: [run(3000, 0.1), run(3000, 0.1), run(3000, 0.1, 0, { non2xx: 100 })] };
    const { report, barHolds } = buildCacheLayersReport(measurements(closed, { off: [4, 4, 4], l1: [1, 1, 1], l1l2: [1, 1, 1] }, false), setup);
    expect(barHolds).toBe(false);
    expect(report.verdict[0]).toMatch(/^l1 vs off: database queries per request 93\.3 % lower .* p50 4\.0× lower .*: NOT JUDGED\.$/);
    expect(report.verdict).toContain('NOT JUDGED: more than 0.1 % of answers failed or were not 2xx for l1l2.');
    expect(report.table.rows[2]![6]).toBe('n/a');
    expect(report.table.rows[2]![8]).toBe(100);
  });

  it('bounds the p50 bar by bare Fastify serving the same bodies, measured beside the variants', () => {
    const closed = { off: [run(800, 2), run(800, 2), run(800, 2)], l1: [run(7000, 0.01), run(7000, 0.01), run(7000, 0.01)], l1l2: [run(5000, 0.05), run(5000, 0.05), run(5000, 0.05)] };
    const { report, barHolds } = buildCacheLayersReport(measurements(closed, { off: [1, 1.2, 1.1], l1: [0.4, 0.4, 0.4], l1l2: [0.5, 0.5, 0.5] }, true, [0.2, 0.25, 0.22]), setup);
    expect(barHolds).toBe(false);
    expect(report.table.rows[3]).toEqual(['bare Fastify, same bodies', '–', '–', '0.22', '0.88', '–', '–', '–', 0, 0]);
    expect(report.verdict[2]).toBe(
      "Ceiling: bare Fastify answering the same paths with the same bodies and doing nothing else has p50 0.22 ms, 5.0× lower than off's (range 4.8–5.0×); " +
        'no cache can make p50 lower than that, so the 10× bar cannot be met on this machine. Over the ceiling: l1 0.18 ms, l1l2 0.28 ms.',
    );
  });
});
