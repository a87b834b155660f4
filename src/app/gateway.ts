import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createTokenService } from '../platform/auth/tokens.ts';
import { ConfigError, type Config } from '../platform/config/config.ts';
import { createGateway, parseRouteTable, singlePoolTable, type Gateway, type RouteTable } from '../platform/gateway/index.ts';
import { createMetrics } from '../platform/observability/metrics.ts';
import { memoryRateLimiterStore } from '../platform/ratelimit/rate-limiter.ts';
import { redisRateLimiterStore } from '../platform/ratelimit/redis-store.ts';
import { gatewayStorefront } from './gateway-storefront.ts';
import { STOREFRONT_MAX_AGE_SECONDS } from './storefront/storefront.routes.ts';

/** How long a Redis command may take before the limiter asks its in-memory insurance instead. */
const LIMITER_REDIS_TIMEOUT_MS = 100;
/** How long a starting gateway waits for Redis before it serves with per-process limits. */
const REDIS_READY_WAIT_MS = 3_000;

function routeTable(config: Config): RouteTable {
  const { routesFile, upstreams, balancer, hashKey } = config.gateway;
  if (!routesFile) return singlePoolTable(upstreams, balancer, hashKey);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(routesFile, 'utf8'));
  } catch (error) {
    throw new ConfigError(`GATEWAY_ROUTES_FILE: cannot read JSON from ${routesFile} (${(error as Error).message})`);
  }
  try {
    return parseRouteTable(json);
  } catch (error) {
    throw new ConfigError(`GATEWAY_ROUTES_FILE: ${(error as Error).message}`);
  }
}

/** The gateway role's composition root: configuration to a running gateway. */
export async function startGateway(config: Config, logger: Logger): Promise<{ gateway: Gateway; redis?: Redis }> {
  const table = routeTable(config);
  const g = config.gateway;
  let redis: Redis | undefined;
  if (config.cache.redisUrl) {
    // No offline queue and a short timeout: a limiter decision never waits for Redis, it asks the
    // insurance limiter. Auto-pipelining sends the decisions of one event-loop turn in one write
    // (without it each request costs a socket write of its own: a tenth of the gateway's CPU).
    redis = new Redis(config.cache.redisUrl, {
      enableOfflineQueue: false, commandTimeout: LIMITER_REDIS_TIMEOUT_MS, maxRetriesPerRequest: 0, enableAutoPipelining: true,
    });
    let down = false;
    redis.on('error', (error: Error) => {
      if (!down) logger.warn({ err: error.message }, 'gateway: Redis unreachable; rate limits are counted per gateway until it is back');
      down = true;
    });
    redis.on('ready', () => {
      if (down) logger.info('gateway: Redis back; rate limits are shared again');
      down = false;
    });
    const ready = redis;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, REDIS_READY_WAIT_MS);
      ready.once('ready', () => (clearTimeout(timer), resolve()));
    });
  } else {
    logger.warn('gateway: no REDIS_URL; rate limits are counted per gateway process, not shared');
  }
  const gateway = createGateway({
    logger,
    metrics: createMetrics(),
    tokens: createTokenService({ secret: config.jwtSecret!, ttlSeconds: config.jwtTtlSeconds }),
    internalSecret: config.internalSecret!,
    table,
    policy: { rise: g.health.rise, fall: g.health.fall, ...g.outlier, slowStartMs: g.slowStartMs, panicThresholdPercent: g.panicThresholdPercent },
    health: { intervalMs: g.health.intervalMs, timeoutMs: g.health.timeoutMs, path: '/readyz' },
    forward: { tryTimeoutMs: g.tryTimeoutMs, timeoutMs: g.timeoutMs, retries: g.retries },
    connection: { connections: g.connections, keepAliveMs: g.keepAliveMs, connectTimeoutMs: g.connectTimeoutMs },
    retryBudget: g.retryBudget,
    rateLimits: { store: redis ? redisRateLimiterStore(redis) : memoryRateLimiterStore, ...config.rateLimit, lease: redis ? config.gateway.rateLimitLease : 1 },
    bodyLimitBytes: config.bodyLimitBytes,
    trustedProxies: g.trustedProxies,
    own: gatewayStorefront({ deadlineMs: config.storefrontPartDeadlineMs, maxAgeSeconds: Math.min(config.httpMaxAgeSeconds, STOREFRONT_MAX_AGE_SECONDS), logger }),
  });
  return { gateway, redis };
}

/**
 * Runs a gateway until SIGTERM or SIGINT, then drains: `/readyz` fails at once (503) so the edge
 * stops sending, requests keep being served for GATEWAY_DRAIN_GRACE_MS, then the server closes
 * (finishing in-flight requests) and the process exits 0.
 */
export async function runGateway(config: Config, logger: Logger): Promise<void> {
  const { gateway, redis } = await startGateway(config, logger);
  const address = await gateway.listen(config.host, config.port);
  const pools = [...gateway.pools.values()].map((p) => `${p.name} (${p.balancer.name}): ${p.instances.map((i) => i.id).join(', ')}`);
  process.stdout.write(
    [`Scalemart gateway is running on ${address.replace('127.0.0.1', 'localhost')}`, ...pools.map((p) => `  pool ${p}`), ''].join('\n'),
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: config.gateway.drainGraceMs }, 'gateway draining');
    gateway.drain();
    const deadline = setTimeout(() => {
      logger.error('gateway shutdown timed out');
      process.exit(1);
    }, config.gateway.drainGraceMs + config.shutdownTimeoutMs);
    deadline.unref();
    try {
      await new Promise((resolve) => setTimeout(resolve, config.gateway.drainGraceMs));
      await gateway.close();
      redis?.disconnect();
      logger.info('gateway stopped');
      logger.flush();
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'gateway shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
