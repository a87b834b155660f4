import type { FastifyInstance } from 'fastify';
import { DomainError } from '../errors/domain-error.ts';
import type { RateLimitPolicy } from '../ratelimit/rate-limiter.ts';

/**
 * Limits every `/api/` route per client (token subject, API key owner, or IP) and per route, and
 * sets the RateLimit-* headers of API.md on every answer. Runs after authentication.
 */
export function installRateLimits(app: FastifyInstance, policy: RateLimitPolicy): void {
  app.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions.url;
    if (!route?.startsWith('/api/')) return;
    const routeKey = `${request.method} ${route}`;
    const client = request.principal ? `${request.principal.via}:${request.principal.subject}` : `ip:${request.ip}`;
    const decision = await policy.limiterFor(routeKey).consume(`${routeKey}|${client}`);
    reply.header('RateLimit-Limit', decision.limit);
    reply.header('RateLimit-Remaining', decision.remaining);
    reply.header('RateLimit-Reset', decision.resetSeconds);
    if (!decision.allowed) {
      reply.header('Retry-After', decision.resetSeconds);
      throw new DomainError('rate_limited', 'RATE_LIMITED', `Too many requests; retry in ${decision.resetSeconds} s.`);
    }
  });
}
