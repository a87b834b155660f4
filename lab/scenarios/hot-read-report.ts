import type { ClosedLoopResult } from '../drivers/closed-loop.ts';
import type { CpuPerRequestResult } from '../drivers/cpu-per-request.ts';
import type { OpenLoopResult } from '../drivers/open-loop.ts';
import { collectSetup, publishReport, type Cell, type Report, type RunSetup } from '../report.ts';
import { fixed, formatMs, formatRange, median, percent, spread, type Spread } from '../stats.ts';
import { HTTP_APP_ALONE } from '../targets/http-app-alone.ts';
import type { WorkDelta } from '../targets/scalemart-counters.ts';
import type { LabOptions, ScenarioOutcome } from './types.ts';

/** Bar: a cached product GET costs Scalemart at most this many times bare Fastify's CPU. */
export const CPU_BAR = 1.25;
/** The former bar, on the closed-loop throughput ratio: still reported, no longer judged (it moves with how generator and server share the cores). */
export const THROUGHPUT_REFERENCE = 0.6;
export const SCALEMART = 'scalemart';
export const BARE = 'bare fastify';
export const CPU_KINDS = { product: 'product', list: 'list', notModified: '304' } as const;
/** List pages (20 products each) run at this share of the CPU accounting's rate and request count. */
export const LIST_SHARE = 1 / 3;
// Above this share of failed answers a figure is not the hot read path's any more.
const FAILURE_TOLERANCE = 0.001;

export interface HotReadMeasurements {
  options: LabOptions;
  catalogSize: number;
  listPages: number;
  zipfExponent: number;
  scalemartFlags: Record<string, string>;
  /** Per target, one closed-loop result per round, in round order. */
  closed: ReadonlyMap<string, readonly ClosedLoopResult[]>;
  open: ReadonlyMap<string, OpenLoopResult>;
  /** Per request kind, per target, one CPU measurement per round, in round order. */
  cpu: ReadonlyMap<string, ReadonlyMap<string, readonly CpuPerRequestResult[]>>;
  /** Scalemart's work counters over the CPU rounds and their warm-ups: a cached read loads nothing. */
  cpuWork?: WorkDelta;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const ratioText = (s: Spread) => `${fixed(s.median, 2)} (${formatRange(s, 2)})`;

/** Per round, one target's figure over another's (Scalemart's over bare's by default): each pairs two measurements seconds apart. */
function cpuRatios(m: HotReadMeasurements, kind: string, pick: (r: CpuPerRequestResult) => number, over = SCALEMART, under = BARE): number[] {
  const top = m.cpu.get(kind)?.get(over) ?? [];
  const bottom = m.cpu.get(kind)?.get(under) ?? [];
  if (top.length === 0 || top.length !== bottom.length) throw new Error(`hot-read: every CPU round of ${kind} needs ${over} and ${under}`);
  return top.map((r, i) => pick(r) / pick(bottom[i]!));
}

/** The targets measured for `kind`, in the table's order: Scalemart, bare Fastify, and Scalemart's HTTP app alone where it ran. */
const targetsOf = (m: HotReadMeasurements, kind: string) => [SCALEMART, BARE, ...(m.cpu.get(kind)?.has(HTTP_APP_ALONE) ? [HTTP_APP_ALONE] : [])];

function row(m: HotReadMeasurements, name: string, kind: string): Cell[] {
  const cpu = m.cpu.get(kind)?.get(name) ?? [];
  const total = spread(cpu.map((r) => r.cpuUs));
  const cpuBad = sum(cpu.map((r) => r.open.non2xx));
  const cpuErrors = sum(cpu.map((r) => r.open.errors));
  const cells: Cell[] = [
    name,
    kind,
    fixed(total.median, 1),
    formatRange(total, 1),
    fixed(median(cpu.map((r) => r.mainUs)), 1),
    fixed(median(cpu.map((r) => r.gcUs)), 1),
    name === BARE ? '1' : ratioText(spread(cpuRatios(m, kind, (r) => r.cpuUs, name))),
  ];
  if (kind !== CPU_KINDS.product || !m.closed.has(name)) return [...cells, '-', '-', '-', cpuBad, cpuErrors, '-', '-', '-', '-'];
  // The throughput and latency runs load the product GET only.
  const closed = m.closed.get(name) ?? [];
  const open = m.open.get(name);
  const rps = spread(closed.map((r) => r.requestsPerSecond));
  return [
    ...cells,
    fixed(rps.median),
    formatRange(rps),
    median(closed.map((r) => r.p99Ms)),
    sum(closed.map((r) => r.non2xx)) + (open?.non2xx ?? 0) + cpuBad,
    sum(closed.map((r) => r.errors)) + (open?.errors ?? 0) + cpuErrors,
    ...(open ? [formatMs(open.ms.p50), formatMs(open.ms.p99), formatMs(open.ms.p999), `${open.late}/${open.sent}`] : ['-', '-', '-', '-']),
  ];
}

/** The table, the ratios against the bar and the setup; pure, so its shape is tested. */
export function buildHotReadReport(m: HotReadMeasurements, setup: RunSetup): { report: Report; barHolds: boolean } {
  const scalemart = m.closed.get(SCALEMART) ?? [];
  const bare = m.closed.get(BARE) ?? [];
  if (scalemart.length === 0 || scalemart.length !== bare.length) throw new Error('hot-read: every round needs both targets');
  // Ratios per round first: each pairs two runs minutes apart, so machine drift cancels inside a round.
  const ratios = scalemart.map((r, i) => r.requestsPerSecond / bare[i]!.requestsPerSecond);
  const ratio = spread(ratios);
  const kinds = Object.values(CPU_KINDS);
  const cpu = Object.fromEntries(kinds.map((kind) => [kind, {
    total: spread(cpuRatios(m, kind, (r) => r.cpuUs)),
    main: spread(cpuRatios(m, kind, (r) => r.mainUs)),
  }]));
  const product = cpu[CPU_KINDS.product]!;
  const alone = targetsOf(m, CPU_KINDS.product).includes(HTTP_APP_ALONE)
    ? {
        overBare: cpuRatios(m, CPU_KINDS.product, (r) => r.cpuUs, HTTP_APP_ALONE),
        monolithOver: cpuRatios(m, CPU_KINDS.product, (r) => r.cpuUs, SCALEMART, HTTP_APP_ALONE),
      }
    : undefined;
  const barHolds = product.total.median <= CPU_BAR;
  const tooMany = (bad: number, total: number) => bad / Math.max(1, total) > FAILURE_TOLERANCE;
  const failures = [SCALEMART, BARE].filter((name) =>
    (m.closed.get(name) ?? []).some((r) => tooMany(r.non2xx + r.errors, r.completed)) ||
    kinds.some((kind) => (m.cpu.get(kind)?.get(name) ?? []).some((r) => tooMany(r.open.non2xx + r.open.errors, r.open.sent))),
  );
  const o = m.options;
  const report: Report = {
    scenario: 'hot-read',
    title:
      `hot-read: cached GET /api/v1/products/:id (Zipf ${m.zipfExponent.toFixed(1)} over ${m.catalogSize} products), list pages (${m.listPages}, Zipf) and 304s, ${o.rounds} rounds A B; ` +
      `CPU per request at ${o.cpuRate} req/s × ${o.cpuRequests} requests in ${o.cpuSlices} alternated slices (list pages at ${fixed(o.cpuRate * LIST_SHARE)} req/s × ${fixed(o.cpuRequests * LIST_SHARE)}); closed loop ${o.connections} connections × ${o.durationSeconds} s (warm-up ${o.warmupSeconds} s); open loop ${o.rate} req/s × ${o.openLoopSeconds} s`,
    setup,
    table: {
      columns: ['target', 'request', 'cpu µs/req', 'cpu range', 'main µs/req', 'gc µs/req', 'cpu × bare', 'req/s', 'req/s range', 'closed p99 ms', 'non-2xx', 'errors', 'open p50 ms', 'open p99 ms', 'open p99.9 ms', 'late sends'],
      rows: kinds.flatMap((kind) => targetsOf(m, kind).map((name) => row(m, name, kind))),
    },
    verdict: [
      `CPU per request, Scalemart / bare Fastify (median of ${scalemart.length} per-round ratios, range): ` +
        kinds.map((kind) => `${kind} ${ratioText(cpu[kind]!.total)}×, main thread ${ratioText(cpu[kind]!.main)}×`).join('; ') + '.',
      ...(alone
        ? [`Scalemart's HTTP app alone (its request path, with no modules, database or background work around it; not judged), product GET: ` +
            `${ratioText(spread(alone.overBare))}× bare Fastify's CPU; the whole monolith ${ratioText(spread(alone.monolithOver))}× its HTTP app alone.`]
        : []),
      ...(m.cpuWork
        ? [`Scalemart during the CPU rounds and their warm-ups: ${m.cpuWork.misses} cache misses (loads), ${m.cpuWork.l1Hits} L1 hits, ${m.cpuWork.statements} database statements (its background work included); cache TTL ${m.scalemartFlags.CACHE_TTL_SECONDS ?? 'default'} s.`]
        : []),
      `Throughput (closed loop, product GET): Scalemart / bare Fastify ${percent(ratio.median)} (median of ${ratios.length} per-round ratios, range ${fixed(ratio.min * 100, 1)}–${fixed(ratio.max * 100, 1)} %; reported, not judged: the former bar was ≥ ${percent(THROUGHPUT_REFERENCE, 0)}).`,
      failures.length > 0
        ? `Bar ≤ ${CPU_BAR}× bare's CPU for a cached product GET: NOT JUDGED: more than ${percent(FAILURE_TOLERANCE)} of answers failed or had the wrong status for ${failures.join(', ')}, so the figures are not the hot read path's.`
        : `Bar ≤ ${CPU_BAR}× bare's CPU for a cached product GET: ${barHolds ? 'holds' : 'NOT MET'} (${fixed(product.total.median, 2)}×).`,
    ],
    data: {
      ratios,
      cpuRatios: Object.fromEntries(kinds.map((kind) => [kind, { total: cpuRatios(m, kind, (r) => r.cpuUs), main: cpuRatios(m, kind, (r) => r.mainUs) }])),
      ...(alone ? { httpAppAlone: alone } : {}),
      zipfExponent: m.zipfExponent,
      closed: Object.fromEntries(m.closed),
      open: Object.fromEntries(m.open),
      cpu: Object.fromEntries([...m.cpu].map(([kind, byTarget]) => [kind, Object.fromEntries(byTarget)])),
      catalogSize: m.catalogSize,
      listPages: m.listPages,
      ...(m.cpuWork ? { cpuWork: m.cpuWork } : {}),
    },
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
    cpuRate: o.cpuRate,
    cpuRequests: o.cpuRequests,
    cpuSlices: o.cpuSlices,
    ...m.scalemartFlags,
  });
  const { report, barHolds } = buildHotReadReport(m, setup);
  return { barHolds, reportPaths: await publishReport(report, out) };
}
