import type { ClosedLoopResult } from '../drivers/closed-loop.ts';
import type { OpenLoopResult } from '../drivers/open-loop.ts';
import type { Cell, Report, RunSetup } from '../report.ts';
import { fixed, formatMs, formatRange, median, percent, spread, type Spread } from '../stats.ts';
import type { WorkDelta } from '../targets/scalemart-counters.ts';
import { MIX, ZIPF_EXPONENT } from './cache-layers-workload.ts';
import type { LabOptions } from './types.ts';

export const MODES = ['off', 'l1', 'l1l2'] as const;
export type CacheMode = (typeof MODES)[number];
export const BAR_QUERY_CUT = 0.95;
export const BAR_P50_FACTOR = 10;
// Above this share of failed answers the figures are not the read path's any more.
const FAILURE_TOLERANCE = 0.001;

/** Length of the cold and restart phases: the warm-up's, and never under 3 s. */
export const phaseSeconds = (options: LabOptions) => Math.max(3, options.warmupSeconds);

/** One closed-loop run with the work the target did during it. */
export interface MeasuredRun {
  closed: ClosedLoopResult;
  work: WorkDelta;
  /** Statements sent during the run divided by the requests completed. */
  queriesPerRequest: number;
}

export interface CacheLayersMeasurements {
  options: LabOptions;
  catalogSize: number;
  /** Open-loop rate used for every variant, requests per second. */
  rate: number;
  /** Per variant, one warm closed-loop run per round. */
  closed: ReadonlyMap<CacheMode, readonly MeasuredRun[]>;
  /** Per variant, one open-loop run per round. */
  open: ReadonlyMap<CacheMode, readonly OpenLoopResult[]>;
  /** Bare Fastify serving the same bodies, one open-loop run per round beside the variants': the ceiling. */
  reference: readonly OpenLoopResult[];
  /** The first seconds of load on a fresh process with empty caches. */
  cold: ReadonlyMap<CacheMode, MeasuredRun>;
  /** The first seconds after restarting the cached variants (L1 empty; Redis keeps L2). */
  restarted: ReadonlyMap<CacheMode, MeasuredRun>;
  /** Statements per second each process sends with no request at all (pollers, relays). */
  idleStatementsPerSecond: ReadonlyMap<CacheMode, number>;
  /** Whether /metrics exposed per-tier cache counters. */
  cacheMetrics: boolean;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const runs = (m: CacheLayersMeasurements, mode: CacheMode) => m.closed.get(mode) ?? [];
const opens = (m: CacheLayersMeasurements, mode: CacheMode) => m.open.get(mode) ?? [];
const ratioRange = (s: Spread, digits: number, scale = 1, unit = '') => `${fixed(s.min * scale, digits)}–${fixed(s.max * scale, digits)}${unit}`;

function hitCell(m: CacheLayersMeasurements, mode: CacheMode, tier: 'l1' | 'l2', ratios: number[]): Cell {
  if (mode === 'off' || (tier === 'l2' && mode === 'l1')) return '–';
  return m.cacheMetrics ? percent(median(ratios)) : 'n/a';
}

function row(m: CacheLayersMeasurements, mode: CacheMode): Cell[] {
  const closed = runs(m, mode);
  const open = opens(m, mode);
  const rps = spread(closed.map((r) => r.closed.requestsPerSecond));
  return [
    mode,
    fixed(rps.median),
    formatRange(rps),
    formatMs(median(open.map((o) => o.ms.p50))),
    formatMs(median(open.map((o) => o.ms.p99))),
    fixed(median(closed.map((r) => r.queriesPerRequest)), 3),
    hitCell(m, mode, 'l1', closed.map((r) => r.work.l1Ratio)),
    hitCell(m, mode, 'l2', closed.map((r) => r.work.l2Ratio)),
    sum(closed.map((r) => r.closed.non2xx)) + sum(open.map((o) => o.non2xx)),
    sum(closed.map((r) => r.closed.errors)) + sum(open.map((o) => o.errors)),
  ];
}

const REFERENCE = 'bare Fastify, same bodies';

/** The ceiling's row: latency only (it does no work to count). */
function referenceRow(m: CacheLayersMeasurements): Cell[] {
  const open = m.reference;
  return [REFERENCE, '–', '–', formatMs(median(open.map((o) => o.ms.p50))), formatMs(median(open.map((o) => o.ms.p99))), '–', '–', '–', sum(open.map((o) => o.non2xx)), sum(open.map((o) => o.errors))];
}

/**
 * How much lower than off's any cache could make p50 here: off's p50 over the reference's, per
 * round. A bar above this cannot be met on this machine, whatever the cache does.
 */
function ceilingLine(m: CacheLayersMeasurements): string {
  if (m.reference.length === 0) return '';
  const offOpen = opens(m, 'off');
  const ceiling = spread(m.reference.map((r, i) => offOpen[i]!.ms.p50 / r.ms.p50));
  const bareP50 = median(m.reference.map((o) => o.ms.p50));
  const over = (['l1', 'l1l2'] as const).map((mode) => `${mode} ${formatMs(median(opens(m, mode).map((o) => o.ms.p50)) - bareP50)} ms`).join(', ');
  return (
    `Ceiling: bare Fastify answering the same paths with the same bodies and doing nothing else has p50 ${formatMs(bareP50)} ms, ` +
    `${fixed(ceiling.median, 1)}× lower than off's (range ${ratioRange(ceiling, 1, 1, '×')}); no cache can make p50 lower than that, so ` +
    (ceiling.median >= BAR_P50_FACTOR ? `the ${BAR_P50_FACTOR}× bar is within reach here.` : `the ${BAR_P50_FACTOR}× bar cannot be met on this machine.`) +
    ` Over the ceiling: ${over}.`
  );
}

function failedVariants(m: CacheLayersMeasurements): CacheMode[] {
  return MODES.filter((mode) =>
    runs(m, mode).some((r) => (r.closed.non2xx + r.closed.errors) / Math.max(1, r.closed.completed) > FAILURE_TOLERANCE) ||
    opens(m, mode).some((o) => (o.non2xx + o.errors) / Math.max(1, o.sent) > FAILURE_TOLERANCE),
  );
}

const phaseLine = (m: CacheLayersMeasurements, mode: CacheMode, phase: MeasuredRun | undefined) => {
  if (!phase) return `${mode} –`;
  const hits = mode === 'off' || !m.cacheMetrics ? '' : `, L1 ${percent(phase.work.l1Ratio)}${mode === 'l1l2' ? `, L2 ${percent(phase.work.l2Ratio)}` : ''}`;
  return `${mode} ${fixed(phase.queriesPerRequest, 2)} queries/request (${fixed(phase.closed.requestsPerSecond)} req/s${hits})`;
};

/** The table, the two bars per cached variant (ratios per round against `off`) and the notes; pure, so its shape is tested. */
export function buildCacheLayersReport(m: CacheLayersMeasurements, setup: RunSetup): { report: Report; barHolds: boolean } {
  const o = m.options;
  const off = runs(m, 'off');
  const offOpen = opens(m, 'off');
  if (off.length === 0 || MODES.some((mode) => runs(m, mode).length !== off.length || opens(m, mode).length !== offOpen.length) || (m.reference.length > 0 && m.reference.length !== offOpen.length)) {
    throw new Error('cache-layers: every round needs every variant');
  }
  const failed = failedVariants(m);
  const verdict: string[] = [];
  const ratios: Record<string, { queryCut: number[]; p50Factor: number[] }> = {};
  let held = failed.length === 0;
  for (const mode of ['l1', 'l1l2'] as const) {
    // Ratios per round first: each pairs runs a minute apart, so the machine's drift cancels inside a round.
    const queryCut = runs(m, mode).map((r, i) => 1 - r.queriesPerRequest / off[i]!.queriesPerRequest);
    const p50Factor = opens(m, mode).map((r, i) => offOpen[i]!.ms.p50 / r.ms.p50);
    ratios[mode] = { queryCut, p50Factor };
    const cut = spread(queryCut);
    const factor = spread(p50Factor);
    const ok = cut.median >= BAR_QUERY_CUT && factor.median >= BAR_P50_FACTOR;
    held &&= ok;
    verdict.push(
      `${mode} vs off: database queries per request ${percent(cut.median)} lower (per-round range ${ratioRange(cut, 1, 100, ' %')}; bar ≥ ${percent(BAR_QUERY_CUT, 0)}), ` +
        `p50 ${fixed(factor.median, 1)}× lower (range ${ratioRange(factor, 1, 1, '×')}; bar ≥ ${BAR_P50_FACTOR}×): ` +
        (failed.length > 0 ? 'NOT JUDGED' : ok ? 'holds' : 'NOT MET') + '.',
    );
  }
  verdict.push(ceilingLine(m));
  const closedP50 = (mode: CacheMode) => median(runs(m, mode).map((r) => r.closed.p50Ms));
  verdict.push(
    `Under saturation (closed loop, ${o.connections} connections) p50 is ${(['l1', 'l1l2'] as const).map((mode) => `${fixed(closedP50('off') / Math.max(1, closedP50(mode)), 1)}× (${mode})`).join(' and ')} lower than off's ` +
      `(${closedP50('off')} ms): coordinated omission makes that a throughput ratio, so the bar reads the open loop.`,
  );
  if (failed.length > 0) verdict.push(`NOT JUDGED: more than ${percent(FAILURE_TOLERANCE)} of answers failed or were not 2xx for ${failed.join(', ')}.`);
  verdict.push(
    `Cold (the first ${phaseSeconds(o)} s of a fresh process, caches empty): ${MODES.map((mode) => phaseLine(m, mode, m.cold.get(mode))).join('; ')}.`,
    `After a restart (first ${phaseSeconds(o)} s; L1 empty, Redis still holds L2): ${(['l1', 'l1l2'] as const).map((mode) => phaseLine(m, mode, m.restarted.get(mode))).join('; ')}.`,
    `Statements with no load at all (pollers, relays), per second: ${MODES.map((mode) => `${mode} ${fixed(m.idleStatementsPerSecond.get(mode) ?? 0, 1)}`).join(', ')}; they are counted in queries/request, as the adapter counts them.`,
    `req/s: closed loop, ${o.connections} connections, ${o.durationSeconds} s after ${o.warmupSeconds} s of warm-up. p50/p99: open loop at ${m.rate} req/s (half of off's closed-loop ceiling) from the intended send time, median over rounds. ` +
      `Hit ratios are per cache read, not per request (a list page reads its page entry and an entry per product shown); L2's is the share of L1's misses Redis answered.`,
    m.cacheMetrics ? '' : 'This build of Scalemart exposes no per-tier cache counters on /metrics (scalemart_cache_hits_total{tier}): hit ratios are n/a.',
    held ? 'Bars: all hold.' : 'Bars: NOT all met.',
  );
  const report: Report = {
    scenario: 'cache-layers',
    title:
      `cache-layers: caching off vs L1 vs L1 + Redis L2, browse-heavy reads (category ${MIX.category} : search ${MIX.search} : product ${MIX.product} : home ${MIX.home}), Zipf ${fixed(ZIPF_EXPONENT, 1)} over ${m.catalogSize} products on PostgreSQL; ` +
      `${o.rounds} rounds alternated; closed loop ${o.connections} connections × ${o.durationSeconds} s; open loop ${m.rate} req/s × ${o.openLoopSeconds} s`,
    setup,
    table: {
      columns: ['cache', 'req/s', 'req/s range', 'p50 ms', 'p99 ms', 'db queries/request', 'L1 hit', 'L2 hit', 'non-2xx', 'errors'],
      rows: [...MODES.map((mode) => row(m, mode)), ...(m.reference.length > 0 ? [referenceRow(m)] : [])],
    },
    verdict: verdict.filter((line) => line !== ''),
    data: {
      ratios,
      rate: m.rate,
      catalogSize: m.catalogSize,
      closed: Object.fromEntries(m.closed),
      open: Object.fromEntries(m.open),
      reference: m.reference,
      cold: Object.fromEntries(m.cold),
      restarted: Object.fromEntries(m.restarted),
      idleStatementsPerSecond: Object.fromEntries(m.idleStatementsPerSecond),
    },
  };
  return { report, barHolds: held };
}
