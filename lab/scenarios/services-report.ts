import type { ClosedLoopResult } from '../drivers/closed-loop.ts';
import type { OpenLoopResult } from '../drivers/open-loop.ts';
import { collectSetup, publishReport, type Cell, type Report, type RunSetup } from '../report.ts';
import { fixed, formatMs, formatRange, percent, spread, type Spread } from '../stats.ts';
import type { LabOptions, ScenarioOutcome } from './types.ts';

/** More failed answers than this (of those sent) make a run invalid. */
export const FAILURE_TOLERANCE = 0.001;

/**
 * A closed-loop run with the CPU over it (all threads, from /proc) of the fleet (every instance
 * and gateway) and of the PostgreSQL backends serving its database.
 */
export interface ClosedRound {
  closed: ClosedLoopResult;
  cpuNs: number;
  dbCpuNs: number;
}

/** An open-loop run with the same CPU figures, and the fleet's per process (JSON only: where a hop's CPU goes). */
export interface OpenRound {
  open: OpenLoopResult;
  cpuNs: number;
  dbCpuNs: number;
  cpuByProcess?: Record<string, number>;
}

export interface FleetInfo {
  key: string;
  /** What it is, for the table: `all-modules ×2`. */
  label: string;
  processes: number;
  /** CPU the fleet burns doing nothing (pollers, health checks), ms per second. */
  idleCpuMsPerSecond: number;
  /** Processes the supervisor restarted during the run. */
  restarts: string[];
}

/** A pair of fleets compared round by round: `reference` first in every ratio's denominator. */
export interface Comparison<R> {
  reference: string;
  other: string;
  rounds: ReadonlyMap<string, readonly R[]>;
}

export interface ServicesMeasurements {
  options: LabOptions;
  catalogSize: number;
  fleets: readonly FleetInfo[];
  /** The browse-and-order mix, closed loop: all-modules (reference) vs services. */
  mix: Comparison<ClosedRound>;
  /** Uncached product GETs at a fixed open-loop rate: one internal call in services, none in all-modules. */
  hop: Comparison<OpenRound> & { rate: number; /** Per fleet, inventory.getStock calls answered per product GET (counted on the instances). */ callsPerGet: Record<string, number> };
  /** Product GETs, closed loop: catalog ×1 (reference) vs catalog ×3. */
  spike: Comparison<ClosedRound>;
  /** Product GETs at a fixed open-loop rate near catalog ×1's ceiling. */
  spikeOpen: Comparison<OpenRound> & { rate: number };
  scalemartFlags: Record<string, string>;
}

const ratio = (s: Spread, digits = 2) => `${fixed(s.median, digits)} (${formatRange(s, digits)})`;
const signed = (ms: number) => `${ms < 0 ? '-' : '+'}${formatMs(Math.abs(ms))}`;
const closedFailed = (r: ClosedRound) => r.closed.non2xx + r.closed.errors;
const openFailed = (r: OpenRound) => r.open.non2xx + r.open.errors;
const sum = <R>(rounds: readonly R[], f: (r: R) => number) => rounds.reduce((n, r) => n + f(r), 0);

/** Per round, `pick` of the other fleet over (or minus) the reference's in the same round. */
function perRound<R>(c: Comparison<R>, pick: (r: R) => number, combine: (other: number, reference: number) => number): Spread {
  const reference = c.rounds.get(c.reference) ?? [];
  const other = c.rounds.get(c.other) ?? [];
  return spread(other.map((r, i) => combine(pick(r), pick(reference[i]!))));
}

function closedRow(measure: string, fleet: FleetInfo, c: Comparison<ClosedRound>): Cell[] {
  const rounds = c.rounds.get(fleet.key) ?? [];
  const rps = spread(rounds.map((r) => r.closed.requestsPerSecond));
  const cpu = spread(rounds.map((r) => r.cpuNs / 1000 / Math.max(1, r.closed.completed)));
  const db = spread(rounds.map((r) => r.dbCpuNs / 1000 / Math.max(1, r.closed.completed)));
  const vs = fleet.key === c.reference ? '1' : ratio(perRound(c, (r) => r.closed.requestsPerSecond, (o, ref) => o / ref));
  const failed = `${sum(rounds, closedFailed)}/${sum(rounds, (r) => r.closed.completed + r.closed.errors)}`;
  return [measure, fleet.label, fleet.processes, fixed(rps.median), formatRange(rps), vs, fixed(spread(rounds.map((r) => r.closed.p99Ms)).median), '-', '-', '-', fixed(cpu.median), fixed(db.median), fixed(fleet.idleCpuMsPerSecond), failed];
}

function openRow(measure: string, fleet: FleetInfo, c: Comparison<OpenRound>): Cell[] {
  const rounds = c.rounds.get(fleet.key) ?? [];
  const p50 = spread(rounds.map((r) => r.open.ms.p50));
  const p99 = spread(rounds.map((r) => r.open.ms.p99));
  const cpu = spread(rounds.map((r) => r.cpuNs / 1000 / Math.max(1, r.open.sent)));
  const db = spread(rounds.map((r) => r.dbCpuNs / 1000 / Math.max(1, r.open.sent)));
  const added = fleet.key === c.reference ? '0' : (() => { const d = perRound(c, (r) => r.open.ms.p50, (o, ref) => o - ref); return `${signed(d.median)} (${formatRange(d, 2)})`; })();
  const failed = `${sum(rounds, openFailed)}/${sum(rounds, (r) => r.open.sent)}`;
  return [measure, fleet.label, fleet.processes, '-', '-', '-', '-', formatMs(p50.median), formatMs(p99.median), added, fixed(cpu.median), fixed(db.median), fixed(fleet.idleCpuMsPerSecond), failed];
}

/** Runs that count: at most FAILURE_TOLERANCE failed, and no process restarted. */
function invalid(m: ServicesMeasurements): string[] {
  const reasons: string[] = [];
  const check = (name: string, failed: number, sent: number) => {
    if (failed / Math.max(1, sent) > FAILURE_TOLERANCE) reasons.push(`${name}: ${failed} of ${sent} answers failed`);
  };
  for (const [key, rounds] of m.mix.rounds) check(`mix on ${key}`, sum(rounds, closedFailed), sum(rounds, (r) => r.closed.completed + r.closed.errors));
  for (const [key, rounds] of m.spike.rounds) check(`spike on ${key}`, sum(rounds, closedFailed), sum(rounds, (r) => r.closed.completed + r.closed.errors));
  for (const [key, rounds] of m.hop.rounds) check(`hop on ${key}`, sum(rounds, openFailed), sum(rounds, (r) => r.open.sent));
  for (const [key, rounds] of m.spikeOpen.rounds) check(`spike at a fixed rate on ${key}`, sum(rounds, openFailed), sum(rounds, (r) => r.open.sent));
  for (const fleet of m.fleets) if (fleet.restarts.length > 0) reasons.push(`${fleet.key}: restarted ${fleet.restarts.join(', ')}`);
  return reasons;
}

/** The table, the findings and the setup; pure, so its shape is tested. */
export function buildServicesReport(m: ServicesMeasurements, setup: RunSetup): { report: Report; valid: boolean } {
  const o = m.options;
  const fleet = (key: string) => m.fleets.find((f) => f.key === key)!;
  const mixRatio = perRound(m.mix, (r) => r.closed.requestsPerSecond, (x, ref) => x / ref);
  const mixP99 = perRound(m.mix, (r) => r.closed.p99Ms, (x, ref) => x / ref);
  const hopP50 = perRound(m.hop, (r) => r.open.ms.p50, (x, ref) => x - ref);
  const hopCpu = perRound(m.hop, (r) => r.cpuNs / 1000 / Math.max(1, r.open.sent), (x, ref) => x - ref);
  const spikeRatio = perRound(m.spike, (r) => r.closed.requestsPerSecond, (x, ref) => x / ref);
  const spikeP99 = perRound(m.spikeOpen, (r) => r.open.ms.p99, (x, ref) => x / ref);
  const reasons = invalid(m);
  const report: Report = {
    scenario: 'services',
    title:
      `services: one machine, ${setup.cpus} cores for every process (fleets, databases, brokers and the load generator); caching off; ${o.rounds} rounds alternated. ` +
      `Mix: ${o.connections} connections × ${o.durationSeconds} s (warm-up ${o.warmupSeconds} s), 18/20 reads (category 7, search 3, product 6, home 2), 1/20 login, 1/20 order, Zipf 1.0 over ${m.catalogSize} products. ` +
      `Hop: product GET at ${m.hop.rate} req/s × ${o.openLoopSeconds} s open loop. Spike: product GETs closed loop, then ${m.spikeOpen.rate} req/s open loop. cpu = every instance and gateway, db cpu = the PostgreSQL backends of the fleet's database, all threads, from /proc; idle cpu = the fleet at rest`,
    setup,
    table: {
      columns: ['measure', 'target', 'processes', 'req/s', 'req/s range', '× reference', 'closed p99 ms', 'open p50 ms', 'open p99 ms', 'added p50 ms (range)', 'cpu µs/req', 'db cpu µs/req', 'idle cpu ms/s', 'failed'],
      rows: [
        ...[m.mix.reference, m.mix.other].map((k) => closedRow('browse-and-order mix', fleet(k), m.mix)),
        ...[m.hop.reference, m.hop.other].map((k) => openRow(`hop: product GET @${m.hop.rate}/s`, fleet(k), m.hop)),
        ...[m.spike.reference, m.spike.other].map((k) => closedRow('browse spike: ceiling', fleet(k), m.spike)),
        ...[m.spikeOpen.reference, m.spikeOpen.other].map((k) => openRow(`browse spike @${m.spikeOpen.rate}/s`, fleet(k), m.spikeOpen)),
      ],
    },
    verdict: [
      `Mix: ${fleet(m.mix.other).label} served ${percent(mixRatio.median)} of ${fleet(m.mix.reference).label}'s throughput (per round ${fixed(mixRatio.min * 100, 1)}–${fixed(mixRatio.max * 100, 1)} %), closed-loop p99 ${fixed(mixP99.median, 2)}× (${formatRange(mixP99, 2)}).`,
      `Hop: one internal call (catalog → inventory.getStock over HTTP; counted ${fixed(m.hop.callsPerGet[m.hop.other] ?? Number.NaN, 2)} per product GET in ${fleet(m.hop.other).label}, ${fixed(m.hop.callsPerGet[m.hop.reference] ?? Number.NaN, 2)} in ${fleet(m.hop.reference).label}) added ${signed(hopP50.median)} ms at p50 (per round ${formatRange(hopP50, 2)}) and ${fixed(hopCpu.median)} µs of CPU per request (${formatRange(hopCpu)}) over the in-process call.`,
      `Independent scaling: ${fleet(m.spike.other).label} reached ${fixed(spikeRatio.median, 2)}× the product-GET ceiling of ${fleet(m.spike.reference).label} (${formatRange(spikeRatio, 2)}); at ${m.spikeOpen.rate} req/s its p99 was ${fixed(spikeP99.median, 2)}× (${formatRange(spikeP99, 2)}).`,
      `On ${setup.cpus} cores every process shares the same CPUs: the services fleet pays each hop's CPU out of the same budget, and more instances can only use cores the others leave idle; nothing here shows capacity that more machines would add.`,
      reasons.length === 0 ? `Every run valid: at most ${percent(FAILURE_TOLERANCE)} failed answers, no process restarted.` : `NOT VALID: ${reasons.join('; ')}.`,
    ],
    data: {
      fleets: m.fleets,
      catalogSize: m.catalogSize,
      mix: { ...m.mix, rounds: Object.fromEntries(m.mix.rounds) },
      hop: { ...m.hop, rounds: Object.fromEntries(m.hop.rounds) },
      spike: { ...m.spike, rounds: Object.fromEntries(m.spike.rounds) },
      spikeOpen: { ...m.spikeOpen, rounds: Object.fromEntries(m.spikeOpen.rounds) },
    },
  };
  return { report, valid: reasons.length === 0 };
}

export async function servicesReport(m: ServicesMeasurements, out: NodeJS.WritableStream): Promise<ScenarioOutcome> {
  const o = m.options;
  const setup = collectSetup('scaled', {
    rounds: o.rounds, duration: o.durationSeconds, warmup: o.warmupSeconds, connections: o.connections, products: o.products, seed: o.seed,
    openLoopSeconds: o.openLoopSeconds, hopRate: m.hop.rate, spikeRate: m.spikeOpen.rate, ...m.scalemartFlags,
  });
  const { report, valid } = buildServicesReport(m, setup);
  return { barHolds: valid, reportPaths: await publishReport(report, out) };
}
