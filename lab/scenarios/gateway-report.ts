import type { OpenLoopResult } from '../drivers/open-loop.ts';
import { collectSetup, publishReport, renderTable, type Cell, type Report, type ReportTable, type RunSetup } from '../report.ts';
import { fixed, formatMs, formatRange, median, percent, spread, type Spread } from '../stats.ts';
import type { LabOptions, ScenarioOutcome } from './types.ts';

export const DIRECT = 'direct';
export const NGINX = 'nginx';
export const FASTIFY_PROXY = 'fastify-http-proxy';
export const SCALEMART_GATEWAY = 'scalemart gateway';

/** Bars from issue 11: per CPU-second at least @fastify/http-proxy's and 30 % of nginx's; ≤ 1 ms added p50 at half its ceiling. */
export const BARS = { overFastifyProxy: 1, overNginx: 0.3, addedP50AtHalfMs: 1 } as const;
/** The slow instance of the balancing table answers this late (the other two at once). */
export const SLOW_MS = 20;
const WEIGHTS = [3, 3, 1];
const FAILURE_TOLERANCE = 0.001;

export interface BalancingSpec {
  balancer: string;
  strategy: 'round-robin' | 'least-request' | 'weighted';
  label: string;
  weights?: readonly number[];
}

/** The balancing table's rows: nginx's own strategies as the reference, then the gateway's. */
export const BALANCING: readonly BalancingSpec[] = [
  { balancer: NGINX, strategy: 'round-robin', label: 'round-robin' },
  { balancer: NGINX, strategy: 'least-request', label: 'least_conn' },
  { balancer: NGINX, strategy: 'weighted', label: `weighted ${WEIGHTS.join(':')}`, weights: WEIGHTS },
  { balancer: SCALEMART_GATEWAY, strategy: 'round-robin', label: 'round-robin' },
  { balancer: SCALEMART_GATEWAY, strategy: 'least-request', label: 'least-request (P2C)' },
  { balancer: SCALEMART_GATEWAY, strategy: 'weighted', label: `weighted ${WEIGHTS.join(':')}`, weights: WEIGHTS },
];

/** One open-loop run through a hop; `cpuNs` is the proxy process's CPU over it (null for direct). */
export interface HopRound {
  open: OpenLoopResult;
  cpuNs: number | null;
}

export interface BalancingRow {
  balancer: string;
  strategy: string;
  weights?: readonly number[] | undefined;
  open: OpenLoopResult[];
  /** Per round, the share of requests the slow instance served. */
  slowShare: number[];
  skipped?: string;
}

export interface GatewayMeasurements {
  options: LabOptions;
  catalogSize: number;
  /** Every hop of the table, in order; direct first. */
  hops: string[];
  /** Hops that could not run, with the reason. */
  skipped: Record<string, string>;
  /** Per hop, one run per round at the fixed rate. */
  fixedRate: ReadonlyMap<string, readonly HopRound[]>;
  /** Per hop, closed-loop requests per second per round. */
  ceilings: ReadonlyMap<string, readonly number[]>;
  /** Per proxy: the rate (half its median ceiling) and, per round, it and direct at that rate. */
  halfCeiling: ReadonlyMap<string, { rate: number; hop: readonly OpenLoopResult[]; direct: readonly OpenLoopResult[] }>;
  balancing: { rate: number; rows: readonly BalancingRow[] };
  scalemartFlags: Record<string, string>;
}

const perCpuSecond = (r: HopRound) => (r.cpuNs ? r.open.sent / (r.cpuNs / 1e9) : Number.NaN);
const ratioText = (s: Spread) => `${fixed(s.median, 2)} (${formatRange(s, 2)})`;
const msDelta = (s: Spread) => `${s.median >= 0 ? '+' : ''}${formatMs(s.median)}`;
const bad = (runs: readonly OpenLoopResult[]) => runs.reduce((n, r) => n + r.non2xx + r.errors, 0);
const sent = (runs: readonly OpenLoopResult[]) => runs.reduce((n, r) => n + r.sent, 0);

/** Per round, a hop's figure against another hop's in the same round. */
function perRound(m: GatewayMeasurements, hop: string, other: string, pick: (r: HopRound) => number): number[] {
  const a = m.fixedRate.get(hop) ?? [];
  const b = m.fixedRate.get(other) ?? [];
  return a.map((r, i) => pick(r) / pick(b[i]!));
}

function added(m: GatewayMeasurements, hop: string, pick: (o: OpenLoopResult) => number): Spread {
  const a = m.fixedRate.get(hop) ?? [];
  const d = m.fixedRate.get(DIRECT) ?? [];
  return spread(a.map((r, i) => pick(r.open) - pick(d[i]!.open)));
}

function hopRow(m: GatewayMeasurements, hop: string): Cell[] {
  const rounds = m.fixedRate.get(hop) ?? [];
  if (m.skipped[hop] !== undefined || rounds.length === 0) return [hop, 'skipped', ...Array(13).fill('-')];
  const opens = rounds.map((r) => r.open);
  const p50 = spread(opens.map((o) => o.ms.p50));
  const p99 = spread(opens.map((o) => o.ms.p99));
  const ceiling = spread([...(m.ceilings.get(hop) ?? [0])]);
  const late = `${opens.reduce((n, o) => n + o.late, 0)}/${sent(opens)}`;
  if (hop === DIRECT) return [hop, '-', '-', '-', '-', formatMs(p50.median), formatMs(p99.median), '0', '0', fixed(ceiling.median), '-', '-', '-', bad(opens), late];
  const cpu = spread(rounds.map(perCpuSecond));
  const half = m.halfCeiling.get(hop);
  const halfAdded = half ? spread(half.hop.map((o, i) => o.ms.p50 - half.direct[i]!.ms.p50)) : undefined;
  const vs = (other: string) => (m.fixedRate.get(other)?.length ? ratioText(spread(perRound(m, hop, other, perCpuSecond))) : '-');
  return [
    hop,
    fixed(cpu.median),
    formatRange(cpu),
    vs(NGINX),
    vs(FASTIFY_PROXY),
    formatMs(p50.median),
    formatMs(p99.median),
    msDelta(added(m, hop, (o) => o.ms.p50)),
    msDelta(added(m, hop, (o) => o.ms.p99)),
    fixed(ceiling.median),
    half ? half.rate : '-',
    half ? formatMs(median(half.hop.map((o) => o.ms.p50))) : '-',
    halfAdded ? `${msDelta(halfAdded)} (${formatRange(halfAdded, 2)})` : '-',
    bad(opens) + (half ? bad(half.hop) : 0),
    late,
  ];
}

function balancingTable(m: GatewayMeasurements): ReportTable {
  return {
    columns: ['balancer', 'strategy', 'p50 ms', 'p50 range', 'p99 ms', 'p99 range', 'slow share', 'failed'],
    rows: m.balancing.rows.map((row): Cell[] => {
      const label = BALANCING.find((b) => b.balancer === row.balancer && b.strategy === row.strategy)?.label ?? row.strategy;
      if (row.skipped !== undefined || row.open.length === 0) return [row.balancer, label, 'skipped', '-', '-', '-', '-', '-'];
      const p50 = spread(row.open.map((o) => o.ms.p50));
      const p99 = spread(row.open.map((o) => o.ms.p99));
      return [row.balancer, label, formatMs(p50.median), formatRange(p50, 2), formatMs(p99.median), formatRange(p99, 2), percent(median(row.slowShare)), bad(row.open)];
    }),
  };
}

/** The verdict on issue 11's bars; unjudged (and so not holding) while the gateway cannot run or answers fail. */
function judge(m: GatewayMeasurements): { lines: string[]; holds: boolean } {
  const reason = m.skipped[SCALEMART_GATEWAY];
  if (reason !== undefined) return { lines: [`Bars NOT JUDGED: ${SCALEMART_GATEWAY} skipped: ${reason}.`], holds: false };
  const failing = m.hops.filter((hop) => {
    const opens = (m.fixedRate.get(hop) ?? []).map((r) => r.open);
    return bad(opens) / Math.max(1, sent(opens)) > FAILURE_TOLERANCE;
  });
  if (failing.length > 0) return { lines: [`Bars NOT JUDGED: more than ${percent(FAILURE_TOLERANCE)} of answers failed through ${failing.join(', ')}.`], holds: false };
  const overFastify = spread(perRound(m, SCALEMART_GATEWAY, FASTIFY_PROXY, perCpuSecond));
  const overNginx = spread(perRound(m, SCALEMART_GATEWAY, NGINX, perCpuSecond));
  const half = m.halfCeiling.get(SCALEMART_GATEWAY)!;
  const halfAdded = median(half.hop.map((o, i) => o.ms.p50 - half.direct[i]!.ms.p50));
  const rows = m.balancing.rows.filter((r) => r.balancer === SCALEMART_GATEWAY && r.open.length > 0);
  const p99Of = (strategy: string) => { const r = rows.find((x) => x.strategy === strategy); return r ? median(r.open.map((o) => o.ms.p99)) : undefined; };
  const [rr, lr] = [p99Of('round-robin'), p99Of('least-request')];
  const checks = [
    { text: `requests per CPU-second ≥ ${BARS.overFastifyProxy}× ${FASTIFY_PROXY}'s: ${ratioText(overFastify)}×`, ok: overFastify.median >= BARS.overFastifyProxy },
    { text: `≥ ${percent(BARS.overNginx, 0)} of nginx's: ${percent(overNginx.median)}`, ok: overNginx.median >= BARS.overNginx },
    { text: `added p50 at half its ceiling (${half.rate} req/s) ≤ ${BARS.addedP50AtHalfMs} ms: ${formatMs(halfAdded)} ms`, ok: halfAdded <= BARS.addedP50AtHalfMs },
    { text: `least-request p99 < round-robin p99 with a slow instance: ${lr === undefined || rr === undefined ? 'not measured' : `${formatMs(lr)} vs ${formatMs(rr)} ms`}`, ok: lr !== undefined && rr !== undefined && lr < rr },
  ];
  return { lines: checks.map((c) => `Bar: ${c.text}: ${c.ok ? 'holds' : 'NOT MET'}.`), holds: checks.every((c) => c.ok) };
}

/** Both tables, the verdict and the setup; pure, so its shape is tested. */
export function buildGatewayReport(m: GatewayMeasurements, setup: RunSetup): { report: Report; barHolds: boolean } {
  const o = m.options;
  const verdict = judge(m);
  const skippedLines = Object.entries(m.skipped).map(([hop, why]) => `Skipped ${hop}: ${why}.`);
  const skippedBalancing = [...new Set(m.balancing.rows.filter((r) => r.skipped).map((r) => `${r.balancer}: ${r.skipped}`))].map((s) => `Balancing rows skipped, ${s}.`);
  const report: Report = {
    scenario: 'gateway',
    title:
      `gateway: cached GET /api/v1/products/:id (Zipf 1.0 over ${m.catalogSize} products, every request with a JWT) on one Scalemart monolith, reached ${m.hops.length} ways, ${o.rounds} rounds alternated; ` +
      `open loop ${o.rate} req/s × ${o.openLoopSeconds} s (proxy CPU from /proc, all threads); ceilings closed loop ${o.connections} connections × ${o.durationSeconds} s (warm-up ${o.warmupSeconds} s); added = minus direct in the same round`,
    setup,
    table: {
      columns: ['hop', 'req/CPU-s', 'range', '× nginx', '× fastify-http-proxy', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms', 'ceiling req/s', 'half-ceiling rate', 'p50 @half ms', 'added p50 @half ms', 'failed', 'late sends'],
      rows: m.hops.map((hop) => hopRow(m, hop)),
    },
    verdict: [
      ...skippedLines,
      ...verdict.lines,
      '',
      `Balancing over 3 instances (plain node:http, lab/references/delay-upstream.ts; instance 3 answers ${SLOW_MS} ms late, the others at once), ${o.rounds} rounds alternated, open loop ${m.balancing.rate} req/s × ${o.openLoopSeconds} s, GET of one small JSON:`,
      '',
      renderTable(balancingTable(m)),
      ...(skippedBalancing.length > 0 ? ['', ...skippedBalancing] : []),
    ],
    data: {
      skipped: m.skipped,
      fixedRate: Object.fromEntries(m.fixedRate),
      ceilings: Object.fromEntries(m.ceilings),
      halfCeiling: Object.fromEntries(m.halfCeiling),
      balancing: m.balancing,
      catalogSize: m.catalogSize,
    },
  };
  return { report, barHolds: verdict.holds };
}

export async function gatewayReport(m: GatewayMeasurements, out: NodeJS.WritableStream): Promise<ScenarioOutcome> {
  const o = m.options;
  const setup = collectSetup(m.scalemartFlags.SCALEMART_STAGE ?? 'monolith', {
    rounds: o.rounds,
    duration: o.durationSeconds,
    warmup: o.warmupSeconds,
    connections: o.connections,
    products: o.products,
    seed: o.seed,
    openLoopRate: o.rate,
    openLoopSeconds: o.openLoopSeconds,
    slowInstanceMs: SLOW_MS,
    ...m.scalemartFlags,
  });
  const { report, barHolds } = buildGatewayReport(m, setup);
  return { barHolds, reportPaths: await publishReport(report, out) };
}
