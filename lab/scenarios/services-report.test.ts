import { describe, expect, it } from 'vitest';
import type { ClosedLoopResult } from '../drivers/closed-loop.ts';
import type { OpenLoopResult } from '../drivers/open-loop.ts';
import type { RunSetup } from '../report.ts';
import { buildServicesReport, type ClosedRound, type FleetInfo, type OpenRound, type ServicesMeasurements } from './services-report.ts';

const setup: RunSetup = { commit: 'none', dirty: false, node: 'v24', stage: 'scaled', flags: {}, cpus: 2, cpuModel: 'x', date: '2026-01-01T00:00:00.000Z' };
// 10 000 requests over 10 s; CPU given in seconds for the whole run.
const closed = (rps: number, p99: number, cpuSeconds: number, failed = 0): ClosedRound => ({
  closed: { requestsPerSecond: rps, p50Ms: 1, p90Ms: 2, p99Ms: p99, completed: rps * 10, non2xx: failed, errors: 0, durationSeconds: 10 } satisfies ClosedLoopResult,
  cpuNs: cpuSeconds * 1e9,
  dbCpuNs: cpuSeconds * 0.5e9,
});
const open = (p50: number, p99: number, cpuSeconds: number): OpenRound => ({
  open: { scheduled: 1000, sent: 1000, ok: 1000, non2xx: 0, errors: 0, late: 0, maxSendLagMs: 0.2, elapsedSeconds: 5, ms: { count: 1000, p50, p90: p99 / 2, p99, p999: p99, max: p99 } } satisfies OpenLoopResult,
  cpuNs: cpuSeconds * 1e9,
  dbCpuNs: cpuSeconds * 0.5e9,
});
const fleet = (key: string, processes: number, restarts: string[] = []): FleetInfo => ({ key, label: key, processes, idleCpuMsPerSecond: 12.4, restarts });

function measurements(overrides: Partial<ServicesMeasurements> = {}): ServicesMeasurements {
  return {
    options: { rounds: 3, durationSeconds: 10, warmupSeconds: 3, connections: 50, products: 1000, rate: 2000, openLoopSeconds: 5, cpuRate: 3000, cpuRequests: 30_000, cpuSlices: 10, orderRate: 20, seed: 42 },
    catalogSize: 1000,
    fleets: [fleet('all', 3), fleet('services', 6), fleet('catalog1', 5), fleet('catalog3', 7)],
    // services at 0.5, 0.6, 0.4 of all's throughput per round (median 0.5).
    mix: { reference: 'all', other: 'services', rounds: new Map([['all', [closed(1000, 50, 2), closed(900, 60, 2), closed(1000, 55, 2)]], ['services', [closed(500, 90, 2), closed(540, 80, 2), closed(400, 100, 2)]]]) },
    // 1 000 requests each; all-modules 1 ms CPU per request, services 1.4, 1.5, 1.6 ms; p50 +0.3, +0.5, +0.4 ms.
    hop: { reference: 'all', other: 'services', rate: 200, callsPerGet: { all: 0, services: 1 }, rounds: new Map([['all', [open(1.0, 3, 1), open(1.1, 3, 1), open(1.0, 3, 1)]], ['services', [open(1.3, 4, 1.4), open(1.6, 5, 1.5), open(1.4, 4, 1.6)]]]) },
    spike: { reference: 'catalog1', other: 'catalog3', rounds: new Map([['catalog1', [closed(1000, 80, 1), closed(1000, 80, 1), closed(1000, 80, 1)]], ['catalog3', [closed(1200, 70, 1), closed(1300, 60, 1), closed(1100, 75, 1)]]]) },
    spikeOpen: { reference: 'catalog1', other: 'catalog3', rate: 800, rounds: new Map([['catalog1', [open(2, 40, 1), open(2, 40, 1), open(2, 40, 1)]], ['catalog3', [open(2, 20, 1), open(2, 20, 1), open(2, 40, 1)]]]) },
    scalemartFlags: {},
    ...overrides,
  };
}

describe('services report', () => {
  it('puts every fleet of every measure in one table, ratios and differences taken per round', () => {
    const { report, valid } = buildServicesReport(measurements(), setup);
    expect(valid).toBe(true);
    const rows = report.table.rows;
    expect(rows.map((r) => [r[0], r[1]])).toEqual([
      ['browse-and-order mix', 'all'], ['browse-and-order mix', 'services'],
      ['hop: product GET @200/s', 'all'], ['hop: product GET @200/s', 'services'],
      ['browse spike: ceiling', 'catalog1'], ['browse spike: ceiling', 'catalog3'],
      ['browse spike @800/s', 'catalog1'], ['browse spike @800/s', 'catalog3'],
    ]);
    const column = (name: string) => report.table.columns.indexOf(name);
    // Mix: req/s median, range and the per-round ratio; CPU per request from the fleet's CPU (2 s over 5 000 requests = 400 µs).
    expect([rows[1]![column('req/s')], rows[1]![column('req/s range')], rows[1]![column('× reference')], rows[1]![column('cpu µs/req')], rows[1]![column('db cpu µs/req')]]).toEqual(['500', '400–540', '0.50 (0.40–0.60)', '400', '200']);
    expect(rows[0]![column('× reference')]).toBe('1');
    // Hop: added p50 per round (0.3, 0.5, 0.4), CPU per request (1 000 µs vs 1 500).
    expect(rows[3]![column('added p50 ms (range)')]).toBe('+0.40 (0.30–0.50)');
    expect([rows[2]![column('cpu µs/req')], rows[3]![column('cpu µs/req')]]).toEqual(['1000', '1500']);
    expect(rows[3]![column('open p50 ms')]).toBe('1.40');
    expect(rows[0]![column('idle cpu ms/s')]).toBe('12');
    expect(report.verdict[0]).toBe('Mix: services served 50.0 % of all\'s throughput (per round 40.0–60.0 %), closed-loop p99 1.80× (1.33–1.82).');
    expect(report.verdict[1]).toContain('counted 1.00 per product GET in services, 0.00 in all)');
    expect(report.verdict[1]).toContain('added +0.40 ms at p50 (per round 0.30–0.50) and 500 µs of CPU per request (400–600)');
    expect(report.verdict[2]).toContain('catalog3 reached 1.20× the product-GET ceiling of catalog1 (1.10–1.30); at 800 req/s its p99 was 0.50× (0.50–1.00)');
    expect(report.verdict.join('\n')).toMatch(/nothing here shows capacity that more machines would add/);
  });

  it('calls the run invalid when answers failed or a process restarted, and says which', () => {
    const failing = measurements();
    failing.mix = { ...failing.mix, rounds: new Map([...failing.mix.rounds, ['services', [closed(500, 90, 2, 20), closed(540, 80, 2), closed(400, 100, 2)]]]) };
    failing.fleets = [fleet('all', 3), fleet('services', 6), fleet('catalog1', 5, ['catalog-1 ×1']), fleet('catalog3', 7)];
    const { report, valid } = buildServicesReport(failing, setup);
    expect(valid).toBe(false);
    expect(report.verdict.at(-1)).toBe('NOT VALID: mix on services: 20 of 14400 answers failed; catalog1: restarted catalog-1 ×1.');
    expect(report.table.rows[1]!.at(-1)).toBe('20/14400');
  });
});
