import type { ClosedLoopResult } from '../drivers/closed-loop.ts';
import type { OpenLoopResult } from '../drivers/open-loop.ts';
import { collectSetup, publishReport, type Cell, type Report, type RunSetup } from '../report.ts';
import { fixed, formatMs, formatRange, median, percent, spread } from '../stats.ts';
import type { LabOptions, ScenarioOutcome } from './types.ts';

export const BAR = 0.6;
export const SCALEMART = 'scalemart';
export const BARE = 'bare fastify';
// Above this share of failed answers a throughput figure is not the hot read path's any more.
const FAILURE_TOLERANCE = 0.001;

export interface HotReadMeasurements {
  options: LabOptions;
  catalogSize: number;
  zipfExponent: number;
  scalemartFlags: Record<string, string>;
  /** Per target, one closed-loop result per round, in round order. */
  closed: ReadonlyMap<string, readonly ClosedLoopResult[]>;
  open: ReadonlyMap<string, OpenLoopResult>;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

function row(name: string, closed: readonly ClosedLoopResult[], open: OpenLoopResult | undefined): Cell[] {
  const rps = spread(closed.map((r) => r.requestsPerSecond));
  const openCells = open
    ? [formatMs(open.ms.p50), formatMs(open.ms.p90), formatMs(open.ms.p99), formatMs(open.ms.p999), formatMs(open.ms.max), `${open.late}/${open.sent}`]
    : ['-', '-', '-', '-', '-', '-'];
  return [
    name,
    fixed(rps.median),
    formatRange(rps),
    median(closed.map((r) => r.p50Ms)),
    median(closed.map((r) => r.p99Ms)),
    sum(closed.map((r) => r.non2xx)) + (open?.non2xx ?? 0),
    sum(closed.map((r) => r.errors)) + (open?.errors ?? 0),
    ...openCells,
  ];
}

/** The table, the ratio against the bar and the setup; pure, so its shape is tested. */
export function buildHotReadReport(m: HotReadMeasurements, setup: RunSetup): { report: Report; barHolds: boolean } {
  const scalemart = m.closed.get(SCALEMART) ?? [];
  const bare = m.closed.get(BARE) ?? [];
  if (scalemart.length === 0 || scalemart.length !== bare.length) throw new Error('hot-read: every round needs both targets');
  // Ratios per round first: each pairs two runs minutes apart, so machine drift cancels inside a round.
  const ratios = scalemart.map((r, i) => r.requestsPerSecond / bare[i]!.requestsPerSecond);
  const ratio = spread(ratios);
  const barHolds = ratio.median >= BAR;
  const failures = [...m.closed].flatMap(([name, results]) =>
    results.some((r) => (r.non2xx + r.errors) / Math.max(1, r.completed) > FAILURE_TOLERANCE) ? [name] : [],
  );
  const o = m.options;
  const report: Report = {
    scenario: 'hot-read',
    title:
      `hot-read: GET /api/v1/products/:id, Zipf ${m.zipfExponent.toFixed(1)} over ${m.catalogSize} products, ${o.rounds} rounds A B; ` +
      `closed loop ${o.connections} connections × ${o.durationSeconds} s (warm-up ${o.warmupSeconds} s); open loop ${o.rate} req/s × ${o.openLoopSeconds} s`,
    setup,
    table: {
      columns: ['target', 'req/s', 'req/s range', 'closed p50 ms', 'closed p99 ms', 'non-2xx', 'errors', 'open p50 ms', 'open p90 ms', 'open p99 ms', 'open p99.9 ms', 'open max ms', 'late sends'],
      rows: [SCALEMART, BARE].map((name) => row(name, m.closed.get(name) ?? [], m.open.get(name))),
    },
    verdict: [
      `Scalemart / bare Fastify throughput: ${percent(ratio.median)} (median of ${ratios.length} per-round ratios, range ${fixed(ratio.min * 100, 1)}–${fixed(ratio.max * 100, 1)} %).`,
      failures.length > 0
        ? `Bar ≥ ${percent(BAR, 0)}: NOT JUDGED: more than ${percent(FAILURE_TOLERANCE)} of answers failed or were not 2xx for ${failures.join(', ')}, so the figures are not the hot read path's.`
        : `Bar ≥ ${percent(BAR, 0)}: ${barHolds ? 'holds' : 'NOT MET'}.`,
    ],
    data: { ratios, zipfExponent: m.zipfExponent, closed: Object.fromEntries(m.closed), open: Object.fromEntries(m.open), catalogSize: m.catalogSize },
  };
  return { report, barHolds: barHolds && failures.length === 0 };
}

export async function hotReadReport(m: HotReadMeasurements, out: NodeJS.WritableStream): Promise<ScenarioOutcome> {
  const o = m.options;
  const setup = collectSetup(m.scalemartFlags.SCALEMART_STAGE ?? 'monolith', {
    rounds: o.rounds,
    duration: o.durationSeconds,
    warmup: o.warmupSeconds,
    connections: o.connections,
    products: o.products,
    zipf: m.zipfExponent,
    seed: o.seed,
    openLoopRate: o.rate,
    openLoopSeconds: o.openLoopSeconds,
    ...m.scalemartFlags,
  });
  const { report, barHolds } = buildHotReadReport(m, setup);
  return { barHolds, reportPaths: await publishReport(report, out) };
}
