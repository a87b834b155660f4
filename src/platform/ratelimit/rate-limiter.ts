import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

/** A fixed-window limiter per key. The store is the port: memory now, Redis when scaled. */
export interface RateLimiter {
  consume(key: string): Promise<RateDecision>;
}

export type RateLimiterStore = (options: { points: number; duration: number; keyPrefix: string }) => RateLimiterAbstract;

export const memoryRateLimiterStore: RateLimiterStore = (options) => new RateLimiterMemory(options);

export function createRateLimiter(store: RateLimiterStore, points: number, windowSeconds: number, keyPrefix: string): RateLimiter {
  const limiter = store({ points, duration: windowSeconds, keyPrefix });
  const decision = (res: RateLimiterRes, allowed: boolean): RateDecision => ({
    allowed,
    limit: points,
    remaining: Math.max(0, res.remainingPoints),
    resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
  });
  return {
    async consume(key) {
      try {
        return decision(await limiter.consume(key), true);
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) return decision(rejection, false);
        throw rejection;
      }
    },
  };
}

export interface RateLimitPolicy {
  /** `routeKey` is `METHOD /route/template`, e.g. `POST /api/v1/auth/login`. */
  limiterFor(routeKey: string): RateLimiter;
}

/**
 * A default limit shared by every route unless the route has its own; limits are counted per
 * client and per route, so a burst on one route does not starve another.
 */
export function createRateLimitPolicy(options: {
  store: RateLimiterStore;
  points: number;
  windowSeconds: number;
  routes: Record<string, number>;
}): RateLimitPolicy {
  const fallback = createRateLimiter(options.store, options.points, options.windowSeconds, 'rl:default');
  const perRoute = new Map(
    Object.entries(options.routes).map(([route, points]) => [route, createRateLimiter(options.store, points, options.windowSeconds, `rl:${route}`)]),
  );
  return { limiterFor: (routeKey) => perRoute.get(routeKey) ?? fallback };
}
