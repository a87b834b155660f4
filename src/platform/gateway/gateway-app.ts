import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { TokenService } from '../auth/tokens.ts';
import { installErrorHandling } from '../http/error-handler.ts';
import { problem } from '../http/problem.ts';
import type { Metrics } from '../observability/metrics.ts';
import { observe } from '../observability/observe.ts';
import { lazyRequestLoggers } from '../observability/request-logger.ts';
import { createLeasedRateLimiter } from '../ratelimit/leased-limiter.ts';
import { createRateLimitPolicy, type RateLimiterStore, type RateLimitPolicy } from '../ratelimit/rate-limiter.ts';
import { createBalancer } from './balancers/index.ts';
import { installEdgeAuthentication } from './edge-auth.ts';
import { forward, type ForwardOptions, type ForwardTarget } from './forward.ts';
import { createGatewayMetrics } from './gateway-metrics.ts';
import { startHealthChecks, type HealthCheckOptions } from './health-checker.ts';
import { createLimitHooks } from './limits.ts';
import { createRetryBudget } from './retry-budget.ts';
import type { HashKeySource, RouteTable } from './routes-file.ts';
import { createUpstreamInstance, type ConnectionOptions } from './upstream-instance.ts';
import { createUpstreamPool, type PoolPolicy, type UpstreamPool } from './upstream-pool.ts';

export interface GatewayOptions {
  logger: Logger;
  metrics: Metrics;
  /** Verifies client JWTs: the same secret as the upstreams. */
  tokens: TokenService;
  /** Signs the forwarded principal; upstreams verify it with the same secret. */
  internalSecret: string;
  table: RouteTable;
  policy: Partial<PoolPolicy>;
  health: HealthCheckOptions;
  forward: ForwardOptions;
  connection: ConnectionOptions;
  retryBudget: { percent: number; minConcurrent: number };
  /**
   * `lease` > 1 takes points from a shared store in leases (src/platform/ratelimit/leased-limiter.ts):
   * for Redis, not for the in-process memory store.
   */
  rateLimits: { store: RateLimiterStore; points: number; windowSeconds: number; routes: Record<string, number>; lease?: number };
  bodyLimitBytes: number;
  /**
   * Addresses or CIDRs of the balancers in front (the nginx edge) whose X-Forwarded-For is
   * believed: the client's address (limits, hash key) is then the one they report. Empty: the
   * peer's address, and a client-sent X-Forwarded-For is ignored.
   */
  trustedProxies: string[];
}

export interface Gateway {
  app: FastifyInstance;
  pools: ReadonlyMap<string, UpstreamPool>;
  /** Fails `/readyz` from now on (503), so balancers in front stop sending; requests are still served. */
  drain(): void;
  /** Stops accepting, finishes in-flight requests, stops health checks and closes upstream connections. */
  close(): Promise<void>;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const REQUEST_ID = /^[\w.:-]{1,128}$/;
/** A path that could climb out of /api/v1 once an upstream normalises it (dot segments, encoded slashes or dots). */
const ESCAPE = /(^|\/)\.\.?(\/|$)|%2e|%2f|%5c|\\/i;

function hashKeyReader(source: HashKeySource): (request: FastifyRequest) => string | undefined {
  if (source === 'ip') return (request) => request.ip;
  const name = source.slice('header:'.length);
  return (request) => {
    const value = request.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
}

/**
 * The gateway: the public `/api/v1` surface routed by path prefix to pools of upstream instances,
 * with edge authentication, shared rate limits, health checks, outlier ejection, retries and
 * timeouts; plus its own `/livez`, `/readyz` and `/metrics`. Anything else (`/internal/…`,
 * `/docs`) is 404 here. Call `app.listen` after it resolves.
 */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { logger, table } = options;
  let draining = false;
  const gatewayMetrics = createGatewayMetrics(options.metrics.registry);

  const pools = new Map<string, UpstreamPool>();
  const targets = new Map<string, ForwardTarget>();
  for (const [name, definition] of Object.entries(table.pools)) {
    const instances = definition.upstreams.map((u) =>
      createUpstreamInstance({ url: u.url, weight: u.weight, pool: name, connection: options.connection, series: gatewayMetrics.instance(name, new URL(u.url).host) }),
    );
    const pool = createUpstreamPool({ name, instances, balancer: createBalancer(definition.balancer), policy: options.policy, logger });
    pools.set(name, pool);
    targets.set(name, {
      pool,
      budget: createRetryBudget(options.retryBudget.percent, options.retryBudget.minConcurrent),
      hashKey: definition.balancer === 'hash' ? hashKeyReader(definition.hashKey) : undefined,
      retries: gatewayMetrics.retries(name),
    });
  }
  gatewayMetrics.observeState(function* () {
    for (const pool of pools.values()) {
      for (const i of pool.instances) yield { pool: pool.name, instance: i.id, inFlight: i.inFlight, healthy: i.up && !i.ejected, ejected: i.ejected };
    }
  });
  const stopChecks = [...pools.values()].map((pool) => startHealthChecks(pool, options.health));

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyRequestLoggers,
    return503OnClosing: true,
    exposeHeadRoutes: false,
    ...(options.trustedProxies.length > 0 ? { trustProxy: options.trustedProxies } : {}),
  });
  installErrorHandling(app);
  // Bodies are passed through as bytes (kept, so an idempotent request can be retried elsewhere).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  observe(app, options.metrics, {
    started: () => true,
    check: async () => {
      if (draining) throw new Error('draining');
    },
    degradable: () => Object.fromEntries([...pools.values()].map((p) => [`pool:${p.name}`, p.healthy() > 0 ? 'up' : 'down'])),
  });
  installEdgeAuthentication(app, { tokens: options.tokens, internalSecret: options.internalSecret });

  const limitDecisions = { allowed: gatewayMetrics.limiterDecision('allowed'), refused: gatewayMetrics.limiterDecision('refused') };
  const { store, points, windowSeconds, routes: routeLimits, lease = 1 } = options.rateLimits;
  const policy: RateLimitPolicy = lease > 1
    ? { limiterFor: (key) => createLeasedRateLimiter(store, routeLimits[key] ?? points, windowSeconds, `rl:${key}`, lease) }
    : createRateLimitPolicy({ store, points, windowSeconds, routes: routeLimits });
  const limitHookFor = createLimitHooks(
    policy,
    routeLimits,
    (allowed) => (allowed ? limitDecisions.allowed : limitDecisions.refused).inc(),
  );

  const forwarding = options.forward;
  for (const route of table.routes) {
    const target = targets.get(route.pool)!;
    const onRequest = limitHookFor(route.prefix);
    const handler = (request: FastifyRequest, reply: Parameters<typeof forward>[1]) => {
      const url = request.url;
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if ((path.includes('.') || path.includes('%') || path.includes('\\')) && ESCAPE.test(path)) {
        return reply.code(404).type('application/problem+json').send(problem(404, 'NOT_FOUND', `No route for ${request.method} ${path}.`));
      }
      return forward(request, reply, target, forwarding);
    };
    app.route({ method: METHODS, url: route.prefix, onRequest, handler });
    app.route({ method: METHODS, url: `${route.prefix}/*`, onRequest, handler });
  }
  await app.ready();

  return {
    app,
    pools,
    drain() {
      draining = true;
    },
    async close() {
      await app.close();
      await Promise.all(stopChecks.map((stop) => stop()));
      await Promise.all([...pools.values()].map((p) => p.close()));
    },
  };
}
