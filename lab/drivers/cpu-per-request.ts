import { readGc } from '../targets/gc-probe.ts';
import type { Target } from '../targets/target.ts';
import type { LatencyHistogram } from './latency-histogram.ts';
import { runOpenLoop, type OpenLoopRequest, type OpenLoopResult } from './open-loop.ts';
import { cpuPerRequest, sampleCpu } from './process-cpu.ts';

export interface CpuPerRequestOptions {
  /** Open-loop rate: fixed, so both targets do the same work per second whatever their ceiling. */
  ratePerSecond: number;
  requests: number;
  request: (index: number) => OpenLoopRequest;
  /** The status a correct answer has (e.g. 304); default any 2xx. */
  okStatus?: number;
  /** Records latencies here (several measurements summarised as one); default the run's own. */
  histogram?: LatencyHistogram;
}

export interface CpuPerRequestResult {
  requests: number;
  /** CPU µs per request, every thread of the server process. */
  cpuUs: number;
  /** CPU µs per request of the main thread alone (JavaScript, and the GC pauses it takes). */
  mainUs: number;
  /** µs per request the main thread spent paused in GC (from the preloaded probe). */
  gcUs: number;
  collections: number;
  /** The open loop that carried the load (latency at this rate, failures, lateness). */
  open: OpenLoopResult;
}

/**
 * The service demand of one request: a fixed number of requests at a fixed open-loop rate, and
 * the server's CPU time before and after, from /proc (so the load generator's CPU, which shares
 * the machine, is not counted). Unlike a closed-loop throughput ratio it does not move with how
 * the generator and the server split the cores. The process must run the GC probe.
 */
export async function measureCpuPerRequest(target: Target, options: CpuPerRequestOptions): Promise<CpuPerRequestResult> {
  const pid = target.process.child.pid;
  if (pid === undefined) throw new Error(`${target.name} has no pid`);
  const gcBefore = await readGc(target.process);
  const before = sampleCpu(pid);
  const open = await runOpenLoop({
    origin: target.origin,
    ratePerSecond: options.ratePerSecond,
    durationSeconds: options.requests / options.ratePerSecond,
    request: options.request,
    okStatus: options.okStatus,
    histogram: options.histogram,
    // No spinning: the generator's timing precision is not measured here, and a spinning generator
    // would take a whole core from the two the server and the reference share with everything else.
    spin: false,
  });
  const after = sampleCpu(pid);
  const gcAfter = await readGc(target.process);
  const { totalUs, mainUs } = cpuPerRequest(before, after, open.sent);
  return {
    requests: open.sent,
    cpuUs: totalUs,
    mainUs,
    gcUs: ((gcAfter.pauseMs - gcBefore.pauseMs) * 1000) / open.sent,
    collections: gcAfter.collections - gcBefore.collections,
    open,
  };
}
