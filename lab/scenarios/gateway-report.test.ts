import { describe, expect, it } from 'vitest';
import type { OpenLoopResult } from '../drivers/open-loop.ts';
import type { RunSetup } from '../report.ts';
import { BALANCING, buildGatewayReport, DIRECT, FASTIFY_PROXY, NGINX, SCALEMART_GATEWAY, type GatewayMeasurements, type HopRound } from './gateway-report.ts';

const setup: RunSetup = { commit: 'none', dirty: false, node: 'v24', stage: 'monolith', flags: {}, cpus: 2, cpuModel: 'x', date: '2026-01-01T00:00:00.000Z' };
const open = (p50: number, p99: number, extra: Partial<OpenLoopResult> = {}): OpenLoopResult => ({
  scheduled: 10_000, sent: 10_000, ok: 10_000, non2xx: 0, errors: 0, late: 0, maxSendLagMs: 0.5, elapsedSeconds: 5,
  ms: { count: 10_000, p50, p90: p99 / 2, p99, p999: p99 * 2, max: p99 * 3 }, ...extra,
});
// 10 000 requests over `cpuSeconds` of proxy CPU.
const round = (p50: number, p99: number, cpuSeconds: number | null, extra: Partial<OpenLoopResult> = {}): HopRound => ({ open: open(p50, p99, extra), cpuNs: cpuSeconds === null ? null : cpuSeconds * 1e9 });

function measurements(withGateway: boolean, gatewayCpuSeconds = 1.0): GatewayMeasurements {
  const fixedRate = new Map<string, HopRound[]>([
    [DIRECT, [round(0.5, 2, null), round(0.6, 3, null), round(0.5, 2, null)]],
    [NGINX, [round(0.6, 2.5, 0.5), round(0.7, 3.2, 0.5), round(0.6, 2.2, 0.4)]],
    [FASTIFY_PROXY, [round(0.9, 4, 2), round(1.0, 5, 2), round(0.9, 4, 2)]],
  ]);
  if (withGateway) fixedRate.set(SCALEMART_GATEWAY, [round(0.8, 4, gatewayCpuSeconds), round(0.9, 5, gatewayCpuSeconds), round(0.8, 4, gatewayCpuSeconds)]);
  const half = (p50: number) => ({ rate: 2000, hop: [open(p50, 5), open(p50, 5), open(p50, 5)], direct: [open(0.5, 2), open(0.5, 2), open(0.5, 2)] });
  return {
    options: { rounds: 3, durationSeconds: 10, warmupSeconds: 3, connections: 50, products: 1000, rate: 2000, openLoopSeconds: 5, cpuRate: 3000, cpuRequests: 30_000, cpuSlices: 10, orderRate: 20, seed: 42 },
    catalogSize: 1000,
    hops: [DIRECT, NGINX, FASTIFY_PROXY, SCALEMART_GATEWAY],
    skipped: withGateway ? {} : { [SCALEMART_GATEWAY]: 'not on this branch' },
    fixedRate,
    ceilings: new Map([[DIRECT, [8000, 8200, 7900]], [NGINX, [7000, 7100, 6900]], [FASTIFY_PROXY, [4000, 4100, 3900]], ...(withGateway ? [[SCALEMART_GATEWAY, [4000, 4000, 4000]] as [string, number[]]] : [])]),
    halfCeiling: new Map([[NGINX, half(0.6)], [FASTIFY_PROXY, half(1.0)], ...(withGateway ? [[SCALEMART_GATEWAY, half(1.2)] as [string, ReturnType<typeof half>]] : [])]),
    balancing: {
      rate: 1000,
      rows: BALANCING.map((b) => ({
        balancer: b.balancer,
        strategy: b.strategy,
        open: b.balancer === SCALEMART_GATEWAY && !withGateway ? [] : [open(0.4, b.strategy === 'least-request' ? 10 : 25), open(0.4, b.strategy === 'least-request' ? 11 : 24), open(0.5, 22)],
        slowShare: [0.1, 0.1, 0.1],
        ...(b.balancer === SCALEMART_GATEWAY && !withGateway ? { skipped: 'not on this branch' } : {}),
      })),
    },
    scalemartFlags: {},
  };
}

describe('gateway report', () => {
  it('reports requests per proxy CPU-second, ratios per round and latency added over direct', () => {
    const { report } = buildGatewayReport(measurements(true), setup);
    const rows = new Map(report.table.rows.map((r) => [r[0], r]));
    // nginx: 10 000 requests over 0.5, 0.5, 0.4 s → 20 000, 20 000, 25 000 req/CPU-s.
    expect(rows.get(NGINX)!.slice(1, 3)).toEqual(['20000', '20000–25000']);
    expect(rows.get(FASTIFY_PROXY)![1]).toBe('5000');
    // Gateway per round over fastify: 10 000 / 5 000 = 2.
    expect(rows.get(SCALEMART_GATEWAY)![4]).toBe('2.00 (2.00–2.00)');
    // Added p50 against direct in the same round: 0.1, 0.1, 0.1.
    expect(rows.get(NGINX)![7]).toBe('+0.10');
    expect(rows.get(DIRECT)![1]).toBe('-');
    expect(report.verdict.some((l) => l.includes('| least-request (P2C)'))).toBe(true);
  });

  it('judges every bar when the gateway ran', () => {
    const { report, barHolds } = buildGatewayReport(measurements(true), setup);
    // 2× fastify-http-proxy, 50 % of nginx, +0.7 ms at half ceiling, least-request p99 below round-robin's.
    expect(report.verdict.filter((l) => l.startsWith('Bar:')).every((l) => l.endsWith('holds.'))).toBe(true);
    expect(barHolds).toBe(true);
    // A gateway costing 4 s of CPU per 10 000 requests falls under fastify-http-proxy and under 30 % of nginx.
    const slow = buildGatewayReport(measurements(true, 4), setup);
    expect(slow.barHolds).toBe(false);
    expect(slow.report.verdict.filter((l) => l.endsWith('NOT MET.'))).toHaveLength(2);
  });

  it('leaves the bars unjudged, with the reason, while the gateway is missing, and still reports the references', () => {
    const { report, barHolds } = buildGatewayReport(measurements(false), setup);
    expect(barHolds).toBe(false);
    expect(report.verdict).toContain('Bars NOT JUDGED: scalemart gateway skipped: not on this branch.');
    expect(report.table.rows.find((r) => r[0] === SCALEMART_GATEWAY)![1]).toBe('skipped');
    expect(report.table.rows.find((r) => r[0] === NGINX)![1]).toBe('20000');
  });
});
