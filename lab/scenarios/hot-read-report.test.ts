import { describe, expect, it } from 'vitest';
import type { ClosedLoopResult } from '../drivers/closed-loop.ts';
import type { CpuPerRequestResult } from '../drivers/cpu-per-request.ts';
import type { OpenLoopResult } from '../drivers/open-loop.ts';
import type { RunSetup } from '../report.ts';
import { HTTP_APP_ALONE } from '../targets/http-app-alone.ts';
import { BARE, buildHotReadReport, CPU_KINDS, SCALEMART, type HotReadMeasurements } from './hot-read-report.ts';

const setup: RunSetup = { commit: 'none', dirty: false, node: 'v24', stage: 'monolith', flags: {}, cpus: 2, cpuModel: 'x', date: '2026-01-01T00:00:00.000Z' };
const closed = (rps: number, extra: Partial<ClosedLoopResult> = {}): ClosedLoopResult => ({
  requestsPerSecond: rps, p50Ms: 1, p90Ms: 2, p99Ms: 5, completed: rps * 10, non2xx: 0, errors: 0, durationSeconds: 10, ...extra,
});
const open: OpenLoopResult = {
  scheduled: 10_000, sent: 10_000, ok: 10_000, non2xx: 0, errors: 0, late: 12, maxSendLagMs: 3, elapsedSeconds: 5,
  ms: { count: 10_000, p50: 0.8312, p90: 1.5, p99: 20.31, p999: 46.88, max: 146.6 },
};
const cpu = (cpuUs: number, extra: Partial<OpenLoopResult> = {}): CpuPerRequestResult => ({
  requests: 10_000, cpuUs, mainUs: cpuUs * 0.8, gcUs: cpuUs * 0.1, collections: 10, open: { ...open, ...extra },
});
const sameForEveryKind = (scalemart: CpuPerRequestResult[], bare: CpuPerRequestResult[]) =>
  new Map(Object.values(CPU_KINDS).map((kind) => [kind, new Map([[SCALEMART, scalemart], [BARE, bare]])]));
const measurements = (
  scalemart: ClosedLoopResult[],
  bare: ClosedLoopResult[],
  cpuRuns = sameForEveryKind([cpu(40), cpu(36), cpu(33)], [cpu(32), cpu(30), cpu(30)]),
): HotReadMeasurements => ({
  options: { rounds: 3, durationSeconds: 10, warmupSeconds: 3, connections: 50, products: 10_000, rate: 2000, openLoopSeconds: 5, cpuRate: 3000, cpuRequests: 30_000, cpuSlices: 10, orderRate: 20, seed: 42 },
  catalogSize: 10_000,
  listPages: 23,
  zipfExponent: 1,
  scalemartFlags: {},
  closed: new Map([[SCALEMART, scalemart], [BARE, bare]]),
  open: new Map([[SCALEMART, open], [BARE, open]]),
  cpu: cpuRuns,
});
const throughput = [[closed(25_000), closed(28_000), closed(39_000)], [closed(50_000), closed(40_000), closed(60_000)]] as const;

describe('hot-read report', () => {
  it('takes the median of per-round CPU ratios and judges the bar on the product GET', () => {
    // CPU ratios per round 1.25, 1.2, 1.1: median 1.2 ≤ 1.25.
    const { report, barHolds } = buildHotReadReport(measurements([...throughput[0]], [...throughput[1]]), setup);
    expect(barHolds).toBe(true);
    expect(report.verdict[0]).toBe(
      'CPU per request, Scalemart / bare Fastify (median of 3 per-round ratios, range): ' +
        ['product', 'list', '304'].map((kind) => `${kind} 1.20 (1.10–1.25)×, main thread 1.20 (1.10–1.25)×`).join('; ') + '.',
    );
    // Throughput ratios 0.5, 0.7, 0.65: median 0.65, although the ratio of medians would be 0.6.
    expect(report.verdict[1]).toMatch(/^Throughput \(closed loop, product GET\): Scalemart \/ bare Fastify 65\.0 % \(median of 3 per-round ratios, range 50\.0–70\.0 %/);
    expect(report.verdict[2]).toBe('Bar ≤ 1.25× bare\'s CPU for a cached product GET: holds (1.20×).');
  });

  it('prints a row per target and request kind, throughput and latency on the product GET', () => {
    const { report } = buildHotReadReport(measurements([...throughput[0]], [...throughput[1]]), setup);
    expect(report.table.rows.map((r) => `${r[0]} ${r[1]}`)).toEqual([
      'scalemart product', 'bare fastify product', 'scalemart list', 'bare fastify list', 'scalemart 304', 'bare fastify 304',
    ]);
    expect(report.table.rows[0]).toEqual([SCALEMART, 'product', '36.0', '33.0–40.0', '28.8', '3.6', '1.20 (1.10–1.25)', '28000', '25000–39000', 5, 0, 0, '0.83', '20.3', '46.9', '12/10000']);
    expect(report.table.rows[1]![6]).toBe('1');
    expect(report.table.rows[2]!.slice(7)).toEqual(['-', '-', '-', 0, 0, '-', '-', '-', '-']);
  });

  it('says how many loads and statements Scalemart made during the CPU rounds, and at what TTL', () => {
    const m = { ...measurements([...throughput[0]], [...throughput[1]]), scalemartFlags: { CACHE_TTL_SECONDS: '3600' } };
    const { report } = buildHotReadReport({ ...m, cpuWork: { statements: 41, l1Hits: 250_000, l2Hits: 0, misses: 3, l1Ratio: 0.99, l2Ratio: 0 } }, setup);
    expect(report.verdict[1]).toBe('Scalemart during the CPU rounds and their warm-ups: 3 cache misses (loads), 250000 L1 hits, 41 database statements (its background work included); cache TTL 3600 s.');
    expect(report.verdict[2]).toMatch(/^Throughput/);
    expect(report.data).toMatchObject({ cpuWork: { misses: 3, statements: 41 } });
  });

  it('reports a missed bar', () => {
    const heavy = sameForEveryKind([cpu(60), cpu(64), cpu(58)], [cpu(30), cpu(32), cpu(28)]);
    const { report, barHolds } = buildHotReadReport(measurements([...throughput[0]], [...throughput[1]], heavy), setup);
    expect(barHolds).toBe(false);
    expect(report.verdict[2]).toBe('Bar ≤ 1.25× bare\'s CPU for a cached product GET: NOT MET (2.00×).');
  });

  it('does not judge a bar on failed answers or wrong statuses', () => {
    const { report, barHolds } = buildHotReadReport(measurements([closed(100, { non2xx: 50 }), closed(100), closed(100)], [closed(100), closed(100), closed(100)]), setup);
    expect(barHolds).toBe(false);
    expect(report.verdict[2]).toMatch(/NOT JUDGED.*scalemart/);
    expect(report.table.rows[0]![10]).toBe(50);

    const wrongStatus = sameForEveryKind([cpu(30, { non2xx: 10_000 }), cpu(30), cpu(30)], [cpu(30), cpu(30), cpu(30)]);
    const judged = buildHotReadReport(measurements([...throughput[0]], [...throughput[1]], wrongStatus), setup);
    expect(judged.barHolds).toBe(false);
    expect(judged.report.verdict[2]).toMatch(/NOT JUDGED.*scalemart/);
  });

  it('splits the product GET with Scalemart\'s HTTP app alone, where it ran: a row, and its ratios in a line of their own', () => {
    const m = measurements([...throughput[0]], [...throughput[1]]);
    const cpuRuns = new Map(m.cpu);
    cpuRuns.set(CPU_KINDS.product, new Map([...m.cpu.get(CPU_KINDS.product)!, [HTTP_APP_ALONE, [cpu(28), cpu(30), cpu(24)]]]));
    const { report, barHolds } = buildHotReadReport({ ...m, cpu: cpuRuns }, setup);
    expect(report.table.rows.map((r) => `${r[0]} ${r[1]}`)).toEqual([
      'scalemart product', 'bare fastify product', 'http app alone product', 'scalemart list', 'bare fastify list', 'scalemart 304', 'bare fastify 304',
    ]);
    // Per round 28/32, 30/30, 24/30; no closed loop ran on it.
    expect(report.table.rows[2]!.slice(6)).toEqual(['0.88 (0.80–1.00)', '-', '-', '-', 0, 0, '-', '-', '-', '-']);
    // Scalemart over it per round: 40/28, 36/30, 33/24.
    expect(report.verdict[1]).toBe(
      'Scalemart\'s HTTP app alone (its request path, with no modules, database or background work around it; not judged), product GET: 0.88 (0.80–1.00)× bare Fastify\'s CPU; the whole monolith 1.38 (1.20–1.43)× its HTTP app alone.',
    );
    expect(barHolds).toBe(true); // judged on Scalemart against bare, as before
  });
});
