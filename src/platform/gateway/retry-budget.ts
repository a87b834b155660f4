/**
 * Envoy's retry budget: retries may be at most `percent` of the requests in flight, but at least
 * `minConcurrent` at a time. A budget, not a count per request, is what keeps retries from
 * multiplying the load on a fleet that is already failing.
 *
 * The floor is 10 rather than Envoy's 3: an instance that dies resets every request it had in
 * flight at once (8 at 200 req/s on this machine), and each of those deserves its retry; above
 * 50 requests in flight the 20 % governs.
 */
export interface RetryBudget {
  /** Requests in flight (first tries and retries). */
  active: number;
  /** Retries in flight. */
  retrying: number;
  allows(): boolean;
}

export function createRetryBudget(percent = 20, minConcurrent = 10): RetryBudget {
  return {
    active: 0,
    retrying: 0,
    allows() {
      return this.retrying < Math.max(minConcurrent, (this.active * percent) / 100);
    },
  };
}
