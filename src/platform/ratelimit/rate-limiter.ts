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
  /**
   * The limiter of one route, keyed by client. `routeKey` is `METHOD /route/template`, e.g.
   * `POST /api/v1/auth/login`. Called once per route, when it is registered.
   */
  limiterFor(routeKey: string): RateLimiter;
}

/**
 * The default limit applies to every route without its own; each route counts separately, so a
 * burst on one route does not starve another.
 */
export function createRateLimitPolicy(options: {
  store: RateLimiterStore;
  points: number;
  windowSeconds: number;
  routes: Record<string, number>;
}): RateLimitPolicy {
  return {
    limiterFor: (routeKey) => createRateLimiter(options.store, options.routes[routeKey] ?? options.points, options.windowSeconds, `rl:${routeKey}`),
  };
}
