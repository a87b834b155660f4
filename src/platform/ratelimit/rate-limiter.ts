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
  /**
   * The same decision, counted in the same store, answered synchronously; present only when the
   * store can answer without I/O (the in-process memory store). Callers prefer it when present.
   */
  consumeNow?(key: string): RateDecision;
}

export type RateLimiterStore = (options: { points: number; duration: number; keyPrefix: string }) => RateLimiterAbstract;

export const memoryRateLimiterStore: RateLimiterStore = (options) => new RateLimiterMemory(options);

/** The part of rate-limiter-flexible 11's RateLimiterMemory that `consume` itself runs (see syncMemoryConsume). */
interface MemoryInternals {
  points: number;
  blockDuration: number;
  execEvenly: boolean;
  getKey(key: string): string;
  _getKeySecDuration(options: object): number;
  _memoryStorage: { incrby(key: string, points: number, durationSec: number): RateLimiterRes };
}

const NO_OPTIONS = {};

/**
 * A synchronous `consume` of one point on a RateLimiterMemory, on the library's own storage, or
 * undefined when the limiter is not one this can mirror exactly.
 *
 * Why: rate-limiter-flexible 11.4's `RateLimiterMemory.consume` does its work synchronously
 * (`MemoryStorage.incrby`, a Map lookup and an add) but wraps it in a `new Promise` that resolves
 * with the result or rejects with it when over the limit: on the hot path that is a promise, its
 * reaction and a microtask per request, and a rejection per refused one.
 *
 * What: the same steps `consume(key, 1)` takes (`getKey`, `_getKeySecDuration({})`, `incrby`,
 * `remainingPoints = max(points - consumed, 0)`, over the limit when consumed > points) on the same
 * `_memoryStorage`, so counts, windows and the library's other methods (`get`, `delete`, `block`)
 * see one store. Only for limiters without `blockDuration` or `execEvenly` (which change what
 * `consume` does); those, other stores, and a library whose internals moved take the async path.
 * rate-limiter.test.ts checks the mirror against the library's own `consume`.
 */
export function syncMemoryConsume(limiter: RateLimiterAbstract): ((key: string) => RateLimiterRes & { allowed: boolean }) | undefined {
  if (!(limiter instanceof RateLimiterMemory)) return undefined;
  const internals = limiter as unknown as MemoryInternals;
  const storage = internals._memoryStorage;
  if (typeof storage?.incrby !== 'function' || typeof internals.getKey !== 'function' || typeof internals._getKeySecDuration !== 'function') return undefined;
  if (internals.blockDuration > 0 || internals.execEvenly) return undefined;
  return (key) => {
    const res = storage.incrby(internals.getKey(key), 1, internals._getKeySecDuration(NO_OPTIONS)) as RateLimiterRes & { consumedPoints: number; remainingPoints: number; allowed: boolean };
    res.remainingPoints = Math.max(internals.points - res.consumedPoints, 0);
    res.allowed = res.consumedPoints <= internals.points;
    return res;
  };
}

export function createRateLimiter(store: RateLimiterStore, points: number, windowSeconds: number, keyPrefix: string): RateLimiter {
  const limiter = store({ points, duration: windowSeconds, keyPrefix });
  const decision = (res: RateLimiterRes, allowed: boolean): RateDecision => ({
    allowed,
    limit: points,
    remaining: Math.max(0, res.remainingPoints),
    resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
  });
  const now = syncMemoryConsume(limiter);
  return {
    async consume(key) {
      if (now) return this.consumeNow!(key);
      try {
        return decision(await limiter.consume(key), true);
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) return decision(rejection, false);
        throw rejection;
      }
    },
    ...(now ? { consumeNow: (key: string) => { const res = now(key); return decision(res, res.allowed); } } : {}),
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
