import type { FastifyInstance, FastifyReply, onRequestHookHandler } from 'fastify';
import { DomainError } from '../errors/domain-error.ts';
import type { RateDecision, RateLimiter, RateLimitPolicy } from '../ratelimit/rate-limiter.ts';
import { DECIDED, type DecidedRequest } from './fast-reads.ts';

/** Sets the RateLimit-* headers; the error to pass on when the request is refused. */
function apply(reply: FastifyReply, decision: RateDecision): DomainError | undefined {
  reply.header('ratelimit-limit', decision.limit).header('ratelimit-remaining', decision.remaining).header('ratelimit-reset', decision.resetSeconds);
  if (decision.allowed) return undefined;
  reply.header('retry-after', decision.resetSeconds);
  return new DomainError('rate_limited', 'RATE_LIMITED', `Too many requests; retry in ${decision.resetSeconds} s.`);
}

function limitHook(limiter: RateLimiter): onRequestHookHandler {
  const consumeNow = limiter.consumeNow;
  // Callback-style: an async hook and an awaited decision cost two more promises per request.
  // With an in-process store the decision is synchronous (no promise at all).
  if (consumeNow) {
    return (request, reply, done) => {
      const decided = (request.raw as DecidedRequest)[DECIDED];
      if (decided !== undefined) return done(apply(reply, decided));
      const client = request.principal ? `${request.principal.via}:${request.principal.subject}` : `ip:${request.ip}`;
      done(apply(reply, consumeNow(client)));
    };
  }
  return (request, reply, done) => {
    const client = request.principal ? `${request.principal.via}:${request.principal.subject}` : `ip:${request.ip}`;
    limiter.consume(client).then((decision) => done(apply(reply, decision)), done);
  };
}

/**
 * Limits every `/api/` route per client (token subject, API key, or IP) and per route, and sets
 * the RateLimit-* headers of API.md on every answer. The limiter is bound to each route when it is
 * registered, so a request pays no lookup; route hooks run after the global authentication hook.
 * Must be installed before the routes are added.
 */
export function installRateLimits(app: FastifyInstance, policy: RateLimitPolicy): void {
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/')) return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const routeKey = `${methods[0]} ${route.url}`;
    const hook = limitHook(policy.limiterFor(routeKey));
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [hook, ...existing];
  });
}
