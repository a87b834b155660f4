import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';

export interface OpenLoopRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface OpenLoopOptions {
  /** Origin on loopback, e.g. http://127.0.0.1:3000 */
  origin: string;
  ratePerSecond: number;
  durationSeconds: number;
  /** The i-th request of the schedule. */
  request: (index: number) => OpenLoopRequest;
  /** Concurrent connections available; requests never wait for a free one in a well-sized run. */
  connections?: number;
  /** Abandon a request after this long (counted as an error). */
  timeoutMs?: number;
}

export interface OpenLoopResult {
  sent: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** Sends that left more than 1 ms after their scheduled time (the generator could not keep up). */
  late: number;
  ms: { p50: number; p90: number; p99: number; p999: number; max: number };
}

/**
 * Latency at a fixed rate without coordinated omission: request i is due at start + i/rate,
 * whatever earlier responses do, and its latency runs from that due time, not from when it left.
 */
export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const histogram = hdr.build({ bitBucketSize: 64, lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
  const pool = new Pool(options.origin, { connections: options.connections ?? 256, pipelining: 1 });
  const total = Math.round(options.ratePerSecond * options.durationSeconds);
  const intervalMs = 1000 / options.ratePerSecond;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const result: OpenLoopResult = { sent: 0, ok: 0, non2xx: 0, errors: 0, late: 0, ms: { p50: 0, p90: 0, p99: 0, p999: 0, max: 0 } };
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();

  const send = (index: number, dueAt: number) => {
    const spec = options.request(index);
    const done = pool
      .request({ method: spec.method, path: spec.path, headers: spec.headers, body: spec.body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
      .then(async (response) => {
        await response.body.dump();
        if (response.statusCode < 300) result.ok++;
        else result.non2xx++;
      })
      .catch(() => void result.errors++)
      .finally(() => {
        histogram.recordValue(Math.max(1, Math.round((performance.now() - dueAt) * 1000)));
        inFlight.delete(done);
      });
    inFlight.add(done);
  };

  for (let next = 0; next < total; ) {
    const now = performance.now();
    while (next < total && start + next * intervalMs <= now) {
      const dueAt = start + next * intervalMs;
      if (now - dueAt > 1) result.late++;
      send(next, dueAt);
      next++;
      result.sent++;
    }
    const wait = start + next * intervalMs - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 50)));
  }
  await Promise.all(inFlight);
  await pool.close();
  const at = (p: number) => histogram.getValueAtPercentile(p) / 1000;
  result.ms = { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: histogram.maxValue / 1000 };
  return result;
}
