import autocannon from 'autocannon';

export interface ClosedLoopOptions {
  url: string;
  connections: number;
  durationSeconds: number;
  /** Path of each request, e.g. a Zipf-chosen product. */
  nextPath: () => string;
  headers?: Record<string, string>;
}

export interface ClosedLoopResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

/** Saturation throughput with autocannon: fixed connections, each sends its next request when the last answers. */
export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    headers: options.headers,
    requests: [{ setupRequest: (request) => ({ ...request, path: options.nextPath() }) }],
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}
