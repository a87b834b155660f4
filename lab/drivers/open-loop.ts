import { Pool } from 'undici';
import { createLatencyHistogram, type LatencyHistogram, type LatencySummary } from './latency-histogram.ts';
import { assertLoopback } from './loopback.ts';

export interface OpenLoopRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface OpenLoopOptions {
  /** Origin on loopback, e.g. http://127.0.0.1:3000. */
  origin: string;
  ratePerSecond: number;
  durationSeconds: number;
  /** The i-th request of the schedule. */
  request: (index: number) => OpenLoopRequest;
  /** The status of a correct answer (e.g. 304 for a conditional GET); others count as non2xx. Default: any 2xx. */
  okStatus?: number;
  /**
   * Spin (setImmediate) through the last ~1.5 ms before each send, for exact send times: costs the
   * generator a core while the schedule is dense. Off, sends wait on timers and leave in ~1 ms
   * batches: enough where only the server's work is measured (CPU accounting). Default true.
   */
  spin?: boolean;
  /** Connections the generator may open; requests never wait for one in a well-sized run. Default 100. */
  connections?: number;
  /** A request still unanswered this long after it left is an error. Default 10 000 ms. */
  timeoutMs?: number;
  /** How long after the schedule ends the generator waits for answers before abandoning them. Default timeoutMs. */
  drainMs?: number;
  /** Records latencies here instead of in a histogram of the run's own (several runs summarised as one). */
  histogram?: LatencyHistogram;
}

export interface OpenLoopResult {
  /** Requests in the schedule: rate × duration. */
  scheduled: number;
  sent: number;
  ok: number;
  /** Answers that were not 2xx (or not `okStatus`, when it is given). */
  non2xx: number;
  /** Connection errors, timeouts, and requests abandoned at the drain deadline. */
  errors: number;
  /** Sends that left more than LATE_MS after their intended time (the generator could not keep up). */
  late: number;
  /** The worst lateness of a send, ms. */
  maxSendLagMs: number;
  /** From each request's intended send time to its answer (or failure). */
  ms: LatencySummary;
  elapsedSeconds: number;
}

export const LATE_MS = 1;

// Timers have millisecond granularity and often fire a millisecond or more late: sleeping on them
// alone made sends leave in batches up to ~1 ms behind schedule, which inflated a sub-millisecond
// p50 several-fold. So the generator sleeps on a timer until about a millisecond before the next
// send, then yields with setImmediate (answers are still read between turns) until it is due.
// That costs CPU while the schedule is dense, which is why open-loop phases are kept short.
const SPIN_MS = 1.5;
const pause = (ms: number, spin: boolean) =>
  new Promise<void>((resolve) => (!spin ? setTimeout(resolve, Math.max(1, ms)) : ms < SPIN_MS ? setImmediate(resolve) : setTimeout(resolve, ms - 1)));

/**
 * Latency at a fixed rate without coordinated omission: request i is due at start + i/rate,
 * whatever earlier responses do, and its latency runs from that due time, not from when it left.
 * A closed-loop client waits for answers before sending more, so a stall delays the very requests
 * that would have measured it; here a stall shows up in every request that was due during it.
 * Bounded: rate × duration requests at most, and at most drainMs after the schedule ends.
 */
export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  assertLoopback(options.origin);
  if (!(options.ratePerSecond > 0) || !(options.durationSeconds > 0)) throw new RangeError('open loop: rate and duration must be positive');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const drainMs = options.drainMs ?? timeoutMs;
  const histogram = options.histogram ?? createLatencyHistogram();
  const pool = new Pool(options.origin, { connections: options.connections ?? 100, pipelining: 1 });
  const scheduled = Math.round(options.ratePerSecond * options.durationSeconds);
  const intervalMs = 1000 / options.ratePerSecond;
  const counts = { sent: 0, ok: 0, non2xx: 0, errors: 0, late: 0, maxSendLagMs: 0 };
  const inFlight = new Set<Promise<void>>();
  const okStatus = options.okStatus;
  const spin = options.spin ?? true;
  const isOk = (status: number) => (okStatus === undefined ? status >= 200 && status < 300 : status === okStatus);

  const send = (index: number, dueAt: number) => {
    const spec = options.request(index);
    const done: Promise<void> = pool
      .request({ method: spec.method, path: spec.path, headers: spec.headers, body: spec.body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
      .then(async (response) => {
        await response.body.dump();
        if (isOk(response.statusCode)) counts.ok++;
        else counts.non2xx++;
      })
      .catch(() => void counts.errors++)
      .finally(() => {
        // A failure is recorded too, at the time it failed: dropping it would flatter the tail.
        histogram.record(performance.now() - dueAt);
        inFlight.delete(done);
      });
    inFlight.add(done);
  };

  const start = performance.now();
  for (let next = 0; next < scheduled; ) {
    const now = performance.now();
    // Everything already due leaves now, late if need be: the schedule never slides.
    while (next < scheduled && start + next * intervalMs <= now) {
      const dueAt = start + next * intervalMs;
      const lag = now - dueAt;
      if (lag > LATE_MS) counts.late++;
      if (lag > counts.maxSendLagMs) counts.maxSendLagMs = lag;
      send(next, dueAt);
      next++;
      counts.sent++;
    }
    const wait = start + next * intervalMs - performance.now();
    if (next < scheduled && wait > 0) await pause(wait, spin);
  }

  let deadline: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    Promise.all(inFlight).then(() => true),
    new Promise<boolean>((resolve) => (deadline = setTimeout(() => resolve(false), drainMs))),
  ]);
  clearTimeout(deadline);
  if (drained) await pool.close();
  else {
    // Abandoned requests fail (and are counted as errors) as the pool is torn down.
    await pool.destroy();
    await Promise.all(inFlight);
  }
  return { scheduled, ...counts, ms: histogram.summary(), elapsedSeconds: (performance.now() - start) / 1000 };
}
