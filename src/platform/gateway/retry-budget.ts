/**
 * Envoy's retry budget: retries may be at most `percent` of the requests in flight, but at least
 * `minConcurrent` at a time. A budget, not a count per request, is what keeps retries from
 * multiplying the load on a fleet that is already failing.
 */
export interface RetryBudget {
  /** Requests in flight (first tries and retries). */
  active: number;
  /** Retries in flight. */
  retrying: number;
  allows(): boolean;
}

export function createRetryBudget(percent = 20, minConcurrent = 3): RetryBudget {
  return {
    active: 0,
    retrying: 0,
    allows() {
      return this.retrying < Math.max(minConcurrent, (this.active * percent) / 100);
    },
  };
}
