import { measureCpuPerRequest, type CpuPerRequestResult } from '../drivers/cpu-per-request.ts';
import { createLatencyHistogram, type LatencyHistogram } from '../drivers/latency-histogram.ts';
import type { OpenLoopRequest, OpenLoopResult } from '../drivers/open-loop.ts';
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

/** Slices of one target's measurements, as one measurement: their requests, CPU and latencies together. */
function combine(slices: readonly CpuPerRequestResult[], histogram: LatencyHistogram): CpuPerRequestResult {
  const requests = slices.reduce((sum, r) => sum + r.requests, 0);
  const weighted = (pick: (r: CpuPerRequestResult) => number) => slices.reduce((sum, r) => sum + pick(r) * r.requests, 0) / requests;
  const total = (pick: (r: OpenLoopResult) => number) => slices.reduce((sum, r) => sum + pick(r.open), 0);
  return {
    requests,
    cpuUs: weighted((r) => r.cpuUs),
    mainUs: weighted((r) => r.mainUs),
    gcUs: weighted((r) => r.gcUs),
    collections: slices.reduce((sum, r) => sum + r.collections, 0),
    open: {
      scheduled: total((o) => o.scheduled),
      sent: total((o) => o.sent),
      ok: total((o) => o.ok),
      non2xx: total((o) => o.non2xx),
      errors: total((o) => o.errors),
      late: total((o) => o.late),
      maxSendLagMs: Math.max(...slices.map((r) => r.open.maxSendLagMs)),
      ms: histogram.summary(),
      elapsedSeconds: total((o) => o.elapsedSeconds),
    },
  };
}

/**
 * The CPU accounting: for each kind, each round measures every target at the same open-loop rate
 * and request count. A round's requests are cut into `cpuSlices` slices taken in turn (A B, B A,
 * A B …), each target carrying on its key sequence where its last slice stopped: both targets then
 * see the same stretches of the machine's drift, seconds apart at most, and each round's ratio
 * pairs two measurements spread over the same minute.
 */
export async function cpuRounds(options: LabOptions, targets: readonly Target[], kinds: readonly CpuKind[], log: (line: string) => void): Promise<CpuMeasurements> {
  const results: CpuMeasurements = new Map(kinds.map((kind) => [kind.name, new Map(targets.map((t) => [t.name, []]))]));
  const rateOf = (kind: CpuKind) => options.cpuRate * (kind.share ?? 1);
  for (const kind of kinds) {
    for (const target of targets) {
      const rate = rateOf(kind);
      await measureCpuPerRequest(target, { ratePerSecond: rate, requests: Math.round(rate * WARMUP_SECONDS), request: kind.requests(), okStatus: kind.okStatus });
    }
  }
  for (let round = 1; round <= options.rounds; round++) {
    for (const kind of kinds) {
      const rate = rateOf(kind);
      const requests = Math.round(rate * (options.cpuRequests / options.cpuRate));
      const perSlice = Math.max(1, Math.round(requests / options.cpuSlices));
      const state = new Map(targets.map((t) => [t.name, { sequence: kind.requests(), done: 0, slices: [] as CpuPerRequestResult[], histogram: createLatencyHistogram() }]));
      for (let slice = 0; slice < options.cpuSlices; slice++) {
        const order = slice % 2 === 0 ? targets : [...targets].reverse();
        for (const target of order) {
          const own = state.get(target.name)!;
          const count = slice === options.cpuSlices - 1 ? requests - own.done : Math.min(perSlice, requests - own.done);
          if (count <= 0) continue;
          const offset = own.done;
          own.slices.push(await measureCpuPerRequest(target, { ratePerSecond: rate, requests: count, request: (i) => own.sequence(offset + i), okStatus: kind.okStatus, histogram: own.histogram }));
          own.done += count;
        }
      }
      for (const target of targets) {
        const own = state.get(target.name)!;
        const result = combine(own.slices, own.histogram);
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
