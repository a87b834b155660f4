/**
 * Exponential backoff with full jitter: a delay drawn uniformly from [0, min(max, base × 2^(attempt−1))],
 * so many failed workers do not retry in step against a recovering dependency.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  return Math.round(random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
}
