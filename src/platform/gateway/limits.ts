import type { onRequestHookHandler } from 'fastify';
import { applyRateDecision } from '../http/rate-limit.hook.ts';
import type { LeasedRateLimiter } from '../ratelimit/leased-limiter.ts';
import type { RateLimiter, RateLimitPolicy } from '../ratelimit/rate-limiter.ts';

/**
 * The gateway's limits: per client (`request.client`, set by edge authentication) and per route.
 * The gateway does not know the upstreams' route templates, so a "route" is either one of the
 * configured exact routes (`RATE_LIMIT_ROUTES`, e.g. `POST /api/v1/auth/login`) or else the
 * routes-file prefix the request matched (`* /api/v1`, `* /api/v1/products`), each with its own
 * counter. Answers carry the RateLimit-* headers; a refusal is 429 RATE_LIMITED with Retry-After.
 */
export function createLimitHooks(policy: RateLimitPolicy, exactRoutes: Record<string, number>, onDecision: (allowed: boolean) => void) {
  // method → path → limiter: two Map lookups, no string built per request.
  const exact = new Map<string, Map<string, RateLimiter>>();
  for (const key of Object.keys(exactRoutes)) {
    const [method, path] = key.split(' ') as [string, string];
    let byPath = exact.get(method);
    if (!byPath) exact.set(method, (byPath = new Map()));
    byPath.set(path, policy.limiterFor(key));
  }

  /** The onRequest hook of the route registered for `prefix`; runs after edge authentication. */
  return function hookFor(prefix: string): onRequestHookHandler {
    const fallback = policy.limiterFor(`* ${prefix}`);
    return (request, reply, done) => {
      let limiter = fallback;
      const byPath = exact.get(request.method);
      if (byPath !== undefined) {
        const url = request.url;
        const q = url.indexOf('?');
        limiter = byPath.get(q < 0 ? url : url.slice(0, q)) ?? fallback;
      }
      // Decided in process when the store allows it: the memory store always, a leased one mostly.
      const now = limiter.consumeNow?.(request.client) ?? (limiter as Partial<LeasedRateLimiter>).tryNow?.(request.client);
      if (now !== undefined) {
        onDecision(now.allowed);
        return done(applyRateDecision(reply, now));
      }
      limiter.consume(request.client).then((decision) => {
        onDecision(decision.allowed);
        done(applyRateDecision(reply, decision));
      }, (error: unknown) => {
        // The Redis store falls back to its insurance limiter; anything left is not the client's fault.
        request.log.warn({ err: error }, 'gateway: rate limiter failed; letting the request through');
        done();
      });
    };
  };
}
