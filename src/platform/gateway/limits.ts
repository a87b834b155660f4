import type { LeasedRateLimiter } from '../ratelimit/leased-limiter.ts';
import type { RateDecision, RateLimiter, RateLimitPolicy } from '../ratelimit/rate-limiter.ts';

/** Picks the limiter of one request of a route: an exact configured route, else the route's own. */
export type RouteLimiter = (method: string, path: string) => RateLimiter;

/**
 * The gateway's limits: per client and per route. The gateway does not know the upstreams' route
 * templates, so a "route" is either one of the configured exact routes (`RATE_LIMIT_ROUTES`, e.g.
 * `POST /api/v1/auth/login`) or else the routes-file prefix the request matched (`* /api/v1`,
 * `* /api/v1/products`), each with its own counter.
 */
export function createRouteLimiters(policy: RateLimitPolicy, exactRoutes: Record<string, number>): (prefix: string) => RouteLimiter {
  // method → path → limiter: two Map lookups, no string built per request.
  const exact = new Map<string, Map<string, RateLimiter>>();
  for (const key of Object.keys(exactRoutes)) {
    const [method, path] = key.split(' ') as [string, string];
    let byPath = exact.get(method);
    if (!byPath) exact.set(method, (byPath = new Map()));
    byPath.set(path, policy.limiterFor(key));
  }
  return (prefix) => {
    const fallback = policy.limiterFor(`* ${prefix}`);
    return (method, path) => exact.get(method)?.get(path) ?? fallback;
  };
}

/** The decision when it can be made without I/O (the memory store always, a leased one mostly). */
export function decideNow(limiter: RateLimiter, client: string): RateDecision | undefined {
  return limiter.consumeNow?.(client) ?? (limiter as Partial<LeasedRateLimiter>).tryNow?.(client);
}
