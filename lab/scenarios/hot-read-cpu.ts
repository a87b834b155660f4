import { measureCpuPerRequest, type CpuPerRequestResult } from '../drivers/cpu-per-request.ts';
import type { OpenLoopRequest } from '../drivers/open-loop.ts';
import type { Target } from '../targets/target.ts';
import type { LabOptions } from './types.ts';

/** One kind of cached read the CPU accounting measures, on both targets. */
export interface CpuKind {
  name: string;
  /** A fresh request sequence, the same for every call (so every target and round sees the same keys). */
  requests: () => (index: number) => OpenLoopRequest;
  /** The status of a correct answer; default any 2xx. */
  okStatus?: number;
  /**
   * Share of `--cpu-rate` and `--cpu-requests` this kind runs at; default 1. A heavier request (a list
   * page of 20 products) runs slower, so that on a shared two-core machine the server keeps up.
   */
  share?: number;
}

/** Per request kind, per target, one measurement per round, in round order. */
export type CpuMeasurements = Map<string, Map<string, CpuPerRequestResult[]>>;

// Uncounted load before a kind's first round: its code paths are compiled and its entries cached.
const WARMUP_SECONDS = 2;

/**
 * The CPU accounting: for each kind, each round measures every target in turn (A B A B …) at the
 * same open-loop rate and request count, so both see the machine's drift and every ratio pairs two
 * measurements taken seconds apart.
 */
export async function cpuRounds(options: LabOptions, targets: readonly Target[], kinds: readonly CpuKind[], log: (line: string) => void): Promise<CpuMeasurements> {
  const results: CpuMeasurements = new Map(kinds.map((kind) => [kind.name, new Map(targets.map((t) => [t.name, []]))]));
  const measure = (target: Target, kind: CpuKind, seconds: number) => {
    const rate = options.cpuRate * (kind.share ?? 1);
    return measureCpuPerRequest(target, { ratePerSecond: rate, requests: Math.round(rate * seconds), request: kind.requests(), okStatus: kind.okStatus });
  };
  for (const kind of kinds) {
    for (const target of targets) await measure(target, kind, WARMUP_SECONDS);
  }
  for (let round = 1; round <= options.rounds; round++) {
    for (const kind of kinds) {
      for (const target of targets) {
        const result = await measure(target, kind, options.cpuRequests / options.cpuRate);
        results.get(kind.name)!.get(target.name)!.push(result);
        log(
          `cpu round ${round}/${options.rounds} ${kind.name.padEnd(8)} ${target.name.padEnd(12)} ${result.cpuUs.toFixed(1)} µs/req ` +
            `(main ${result.mainUs.toFixed(1)}, gc ${result.gcUs.toFixed(1)}), p99 ${result.open.ms.p99.toFixed(2)} ms, late ${result.open.late}, bad ${result.open.non2xx + result.open.errors}`,
        );
      }
    }
  }
  return results;
}
