import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { createTokenService } from '../platform/auth/tokens.ts';
import { createMemoryCache, createNoCache } from '../platform/cache/bentocache.adapter.ts';
import type { Cache } from '../platform/cache/cache.ts';
import type { Config } from '../platform/config/config.ts';
import { createDatabase } from '../platform/db/create-database.ts';
import type { Database } from '../platform/db/database.ts';
import { migrate } from '../platform/db/migrations.ts';
import { createHttpApp, type HttpApp } from '../platform/http/create-app.ts';
import { createMetrics, gaugeFrom, type Metrics } from '../platform/observability/metrics.ts';
import { createRateLimitPolicy, memoryRateLimiterStore } from '../platform/ratelimit/rate-limiter.ts';
import { createCatalogModule, type CatalogModule } from '../modules/catalog/index.ts';
import { createIdentityModule, type IdentityModule } from '../modules/identity/index.ts';
import { createInventoryModule, type InventoryModule } from '../modules/inventory/index.ts';
import { loadOrCreateSecret } from './secrets.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface Monolith {
  app: HttpApp;
  db: Database;
  cache: Cache;
  metrics: Metrics;
  modules: { identity: IdentityModule; inventory: InventoryModule; catalog: CatalogModule };
  /** Stops the HTTP server (finishing in-flight requests), then the cache and the database. */
  close(): Promise<void>;
}

/** The cache the configuration asks for (the lab switches it). */
function createCache(config: Config): Cache {
  return config.cache.mode === 'off'
    ? createNoCache()
    : createMemoryCache({ defaultTtlSeconds: config.cache.ttlSeconds, maxItems: config.cache.l1MaxItems });
}

/** Opens the database and wires every module; used by the server, the seeder and the tests. */
export async function createCore(config: Config) {
  const db = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: config.dbPoolSize });
  const cache = createCache(config);
  const tokens = createTokenService({ secret: config.jwtSecret ?? (await loadOrCreateSecret(config.dataDir, 'jwt-secret')), ttlSeconds: config.jwtTtlSeconds });
  const identity = createIdentityModule({ db, tokens });
  const inventory = createInventoryModule({ db, cache, httpMaxAgeSeconds: config.httpMaxAgeSeconds });
  const catalog = createCatalogModule({ db, cache, inventory: inventory.api, httpMaxAgeSeconds: config.httpMaxAgeSeconds });
  const modules = { identity, inventory, catalog };
  for (const module of Object.values(modules)) await migrate(db, module.name, module.migrations);
  if (config.admin) await identity.api.ensureAdmin(config.admin.email, config.admin.password);
  return { db, cache, tokens, modules };
}

/** The monolith stage: every module in one process on embedded defaults. */
export async function createMonolith(config: Config, logger: Logger): Promise<Monolith> {
  if (config.stage !== 'monolith') throw new Error(`SCALEMART_STAGE=${config.stage} is not wired yet; only monolith runs today`);
  const metrics = createMetrics();
  let started = false;
  const { db, cache, tokens, modules } = await createCore(config);

  const app = await createHttpApp({
    logger,
    metrics,
    tokens,
    resolveApiKey: modules.identity.api.resolveApiKey,
    rateLimits: createRateLimitPolicy({ store: memoryRateLimiterStore, ...config.rateLimit }),
    bodyLimitBytes: config.bodyLimitBytes,
    version: VERSION,
    readiness: { started: () => started, check: () => db.ping() },
  });
  gaugeFrom(metrics, 'scalemart_db_statements_sent', 'Statements sent to the database since start', () => db.stats().queries);
  for (const module of Object.values(modules)) module.registerRoutes(app);
  await app.ready();
  started = true;

  return {
    app,
    db,
    cache,
    metrics,
    modules,
    async close() {
      await app.close();
      await cache.close();
      await db.close();
    },
  };
}
