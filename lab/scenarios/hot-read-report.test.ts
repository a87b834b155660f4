import { describe, expect, it } from 'vitest';
import type { ClosedLoopResult } from '../drivers/closed-loop.ts';
import type { OpenLoopResult } from '../drivers/open-loop.ts';
import type { RunSetup } from '../report.ts';
import { BARE, buildHotReadReport, SCALEMART, type HotReadMeasurements } from './hot-read-report.ts';

const setup: RunSetup = { commit: 'none', dirty: false, node: 'v24', stage: 'monolith', flags: {}, cpus: 2, cpuModel: 'x', date: '2026-01-01T00:00:00.000Z' };
const closed = (rps: number, extra: Partial<ClosedLoopResult> = {}): ClosedLoopResult => ({
  requestsPerSecond: rps, p50Ms: 1, p90Ms: 2, p99Ms: 5, completed: rps * 10, non2xx: 0, errors: 0, durationSeconds: 10, ...extra,
});
const open: OpenLoopResult = {
  scheduled: 10_000, sent: 10_000, ok: 10_000, non2xx: 0, errors: 0, late: 12, maxSendLagMs: 3, elapsedSeconds: 5,
  ms: { count: 10_000, p50: 0.8312, p90: 1.5, p99: 20.31, p999: 46.88, max: 146.6 },
};
const measurements = (scalemart: ClosedLoopResult[], bare: ClosedLoopResult[]): HotReadMeasurements => ({
  options: { rounds: 3, durationSeconds: 10, warmupSeconds: 3, connections: 50, products: 10_000, rate: 2000, openLoopSeconds: 5, orderRate: 20, seed: 42 },
  catalogSize: 10_000,
  zipfExponent: 1,
  scalemartFlags: {},
  closed: new Map([[SCALEMART, scalemart], [BARE, bare]]),
  open: new Map([[SCALEMART, open], [BARE, open]]),
});

describe('hot-read report', () => {
  it('takes the median of per-round ratios and judges the bar', () => {
    // Per-round ratios 0.5, 0.7, 0.65: median 0.65, although the ratio of medians would be 0.6.
    const { report, barHolds } = buildHotReadReport(measurements([closed(25_000), closed(28_000), closed(39_000)], [closed(50_000), closed(40_000), closed(60_000)]), setup);
    expect(barHolds).toBe(true);
    expect(report.verdict).toEqual([
      'Scalemart / bare Fastify throughput: 65.0 % (median of 3 per-round ratios, range 50.0–70.0 %).',
      'Bar ≥ 60 %: holds.',
    ]);
    expect(report.table.rows[0]).toEqual([SCALEMART, '28000', '25000–39000', 1, 5, 0, 0, '0.83', '1.50', '20.3', '46.9', '147', '12/10000']);
    expect(report.table.rows[1]![0]).toBe(BARE);
  });

  it('reports a missed bar', () => {
    const { report, barHolds } = buildHotReadReport(measurements([closed(1), closed(1), closed(1)], [closed(2), closed(2), closed(3)]), setup);
    expect(barHolds).toBe(false);
    expect(report.verdict[1]).toBe('Bar ≥ 60 %: NOT MET.');
  });

  it('does not judge a bar on failed answers', () => {
    const { report, barHolds } = buildHotReadReport(measurements([closed(100, { non2xx: 50 }), closed(100), closed(100)], [closed(100), closed(100), closed(100)]), setup);
    expect(barHolds).toBe(false);
    expect(report.verdict[1]).toMatch(/NOT JUDGED.*scalemart/);
    expect(report.table.rows[0]![5]).toBe(50);
  });
});
