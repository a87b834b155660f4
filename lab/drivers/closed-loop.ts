import autocannon from 'autocannon';
import { assertLoopback } from './loopback.ts';

/** A request other than a plain GET: its method, body and headers beside the path. */
export interface ClosedLoopRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface ClosedLoopOptions {
  /** Origin on loopback, e.g. http://127.0.0.1:3000. */
  origin: string;
  connections: number;
  durationSeconds: number;
  /** Run first and thrown away: JIT, caches and connection pools settle before anything counts. */
  warmupSeconds: number;
  /**
   * Makes a fresh sequence of request paths; called once for the warm-up and once for the
   * measured run, so every target's measured run starts the same seeded sequence. A path is a GET;
   * a request object carries its own method, headers and body (a mix of reads and writes).
   */
  paths: () => () => string | ClosedLoopRequest;
  headers?: Record<string, string>;
  /** A request unanswered this long is a timeout (an error). Default 10 s. */
  timeoutSeconds?: number;
}

export interface ClosedLoopResult {
  /** Completed requests per second over the measured run. */
  requestsPerSecond: number;
  /** Autocannon's latency of 2xx answers, whole milliseconds (its histogram's resolution). */
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  completed: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** Of the errors, requests unanswered within the timeout. */
  timeouts?: number;
  /** Answers by HTTP status, so failures can be told apart (a 504 from a proxy, a 409). */
  statusCodes?: Record<string, number>;
  durationSeconds: number;
}

function once(options: ClosedLoopOptions, seconds: number) {
  const next = options.paths();
  return autocannon({
    url: options.origin,
    connections: options.connections,
    duration: seconds,
    timeout: options.timeoutSeconds ?? 10,
    headers: options.headers,
    // Each request's path is drawn when it is sent, so the key popularity follows the workload.
    requests: [{
      setupRequest: (request) => {
        const drawn = next();
        if (typeof drawn === 'string') return { ...request, path: drawn };
        return { ...request, method: drawn.method, path: drawn.path, headers: { ...request.headers, ...drawn.headers }, body: drawn.body };
      },
    }],
  });
}

/**
 * Saturation throughput: a fixed number of connections, each sending its next request as soon as
 * the last one answers. Its latencies suffer coordinated omission (a slow answer delays the
 * requests behind it, which are then never measured as slow): read latency from the open loop.
 */
export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  assertLoopback(options.origin);
  if (options.warmupSeconds > 0) await once(options, options.warmupSeconds);
  const result = await once(options, options.durationSeconds);
  return {
    requestsPerSecond: result.duration > 0 ? result.requests.total / result.duration : 0,
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    completed: result.requests.total,
    non2xx: result.non2xx,
    // autocannon counts timeouts among errors already.
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([status, { count }]) => [status, count ?? 0])),
    durationSeconds: result.duration,
  };
}
