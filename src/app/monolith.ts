import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../platform/config/config.ts';
import { childTraceparent, runWithEventContext } from '../platform/events/context.ts';
import { registerEventAdminRoutes } from '../platform/events/events.routes.ts';
import { announceDraining, createHttpApp, type HttpApp } from '../platform/http/create-app.ts';
import { createAggregateMetrics } from '../platform/observability/aggregate-metrics.ts';
import { createMetrics, type Metrics } from '../platform/observability/metrics.ts';
import { createRateLimitPolicy, memoryRateLimiterStore } from '../platform/ratelimit/rate-limiter.ts';
import { composeProcess, createCore, type Composition, type Core, type CoreOverrides } from './core.ts';
import { CALLEES, type Callee } from './modules.ts';
import { internalRoutes, type ContractTable } from '../platform/rpc/index.ts';
import { createStorefront, inProcessSources, type StorefrontSources } from './storefront/storefront.ts';
import { registerStorefrontRoutes, STOREFRONT_MAX_AGE_SECONDS } from './storefront/storefront.routes.ts';

/** The package's version, for the API document: read when an app is built, not at import. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export interface MonolithOverrides extends CoreOverrides {
  /** Wraps the home page's sources (tests make one fail or hang). */
  storefrontSources?: (real: StorefrontSources) => StorefrontSources;
}

/** What runs an HTTP process beyond its composition. */
interface Served {
  app: HttpApp;
  metrics: Metrics;
  /** Starts draining: `/readyz` answers 503 and every answer closes its connection; requests are still served. */
  drain(): void;
  /** Stops the HTTP server (finishing in-flight requests), background work, the cache and the database. */
  close(): Promise<void>;
}

export interface Monolith extends Omit<Core, 'close' | 'startBackground'>, Served {}

/** A process of the service role: some modules, the others reached through their contracts' clients. */
export interface ServiceProcess extends Omit<Composition, 'close' | 'startBackground'>, Served {}

/**
 * Every module in one process behind one HTTP app. The monolith stage runs it on embedded defaults;
 * the scaled stage runs the same process, several times over, on PostgreSQL (primary, read
 * replicas, shards) and a shared Redis cache (the configuration decides).
 */
export async function createMonolith(config: Config, logger: Logger, overrides: MonolithOverrides = {}): Promise<Monolith> {
  const metrics = createMetrics();
  const core = await createCore(config, logger, { ...overrides, metrics });
  return { ...core, ...(await serve(core, config, logger, metrics, overrides, { internal: false })) };
}

/**
 * `--role service --modules …`: the listed modules' public routes and internal API
 * (`/internal/v1/<module>/…`, signed with INTERNAL_SECRET), and their background work; the
 * modules they call that run elsewhere are reached at the URLs of SERVICE_URLS.
 */
export async function createServiceProcess(config: Config, logger: Logger, overrides: MonolithOverrides = {}): Promise<ServiceProcess> {
  const metrics = createMetrics();
  const core = await composeProcess(config, logger, { ...overrides, metrics }, config.service.modules);
  return { ...core, ...(await serve(core, config, logger, metrics, overrides, { internal: true })) };
}

async function serve(core: Composition, config: Config, logger: Logger, metrics: Metrics, overrides: MonolithOverrides, options: { internal: boolean }): Promise<Served> {
  let started = false;
  let draining = false;
  const { db, modules, apis } = core;
  const app = await createHttpApp({
    logger,
    metrics,
    tokens: core.tokens,
    // API keys live with identity: resolved here or by its service; a process that neither runs nor calls it accepts tokens only.
    resolveApiKey: apis.identity?.resolveApiKey ?? (async () => null),
    rateLimits: createRateLimitPolicy({ store: memoryRateLimiterStore, ...config.rateLimit }),
    bodyLimitBytes: config.bodyLimitBytes,
    version: packageVersion(),
    internalSecret: config.internalSecret,
    trustedProxies: config.trustedProxies,
    readiness: { started: () => started, draining: () => draining, check: () => db.ping(), degradable: () => ({ events: core.transport.health().up ? 'up' : 'down' }) },
    runAsClient: core.replication?.runAs,
  });
  // Events appended while a request changes something carry its id and trace; reads append nothing,
  // so they skip it. preValidation, after the body is parsed: the context then lasts to the handler.
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.method === 'GET' || request.method === 'HEAD') return done();
    runWithEventContext({ requestId: request.id, traceparent: childTraceparent(request.headers.traceparent) }, done);
  });
  for (const module of [modules.identity, modules.inventory, modules.catalog, modules.orders]) module?.registerRoutes(app);
  if (options.internal) {
    for (const module of Object.values(modules)) {
      if (!(module.name in CALLEES)) continue;
      const { contract } = CALLEES[module.name as Callee] as { contract: ContractTable<unknown> };
      await app.register(internalRoutes(contract, module.api, { secret: config.internalSecret! }));
    }
  }
  // The home page joins catalog and orders: served where both run (the gateway composes it in front of services).
  if (modules.catalog && modules.orders) {
    const sources = inProcessSources(modules.catalog.api, modules.orders.api);
    const countDegraded = createAggregateMetrics(metrics).degradedIn('storefront_home');
    const storefront = createStorefront(overrides.storefrontSources?.(sources) ?? sources, {
      deadlineMs: config.storefrontPartDeadlineMs,
      onDegraded: (part, reason, error) => {
        countDegraded(part, reason);
        logger.warn({ part, reason, err: error instanceof Error ? error.message : undefined }, 'storefront: part left out');
      },
    });
    registerStorefrontRoutes(app, storefront, { maxAgeSeconds: Math.min(config.httpMaxAgeSeconds, STOREFRONT_MAX_AGE_SECONDS) });
  }
  registerEventAdminRoutes(app, { db, transport: core.transport, consumers: () => core.consumers });
  await app.ready();
  await core.startBackground();
  started = true;

  return {
    app,
    metrics,
    drain() {
      if (draining) return;
      draining = true;
      announceDraining(app);
    },
    async close() {
      await app.close();
      await core.close();
    },
  };
}
