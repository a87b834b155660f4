import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import { createTokenService } from '../platform/auth/tokens.ts';
import { createMemoryCache, createNoCache } from '../platform/cache/bentocache.adapter.ts';
import { aroundLoads, type Cache, type CacheObserver } from '../platform/cache/cache.ts';
import { createCacheMetrics } from '../platform/cache/cache-metrics.ts';
import { createTieredCache } from '../platform/cache/tiered-cache.ts';
import type { Config } from '../platform/config/config.ts';
import { createDatabase } from '../platform/db/create-database.ts';
import { migrate } from '../platform/db/migrations.ts';
import { ensureDatabase } from '../platform/db/service-database.ts';
import { startConsumer, type ConsumerOptions } from '../platform/events/consumer.ts';
import { eventMigrations } from '../platform/events/events.schema.ts';
import { createOutboxRelay } from '../platform/events/relay.ts';
import { createWalRelay, ensureWalOutbox } from '../platform/events/wal-relay.ts';
import { readShardMap } from '../platform/db/sharding/shard-set.ts';
import { createJetStreamTransport } from '../platform/events/jetstream-transport.ts';
import { createTableTransport } from '../platform/events/table-transport.ts';
import type { EventTransport, Subscription } from '../platform/events/transport.ts';
import type { Database } from '../platform/db/database.ts';
import { createDatabaseMetrics } from '../platform/observability/db-metrics.ts';
import { createDependencyMetrics } from '../platform/observability/dependency-metrics.ts';
import type { DependencyObserver } from '../platform/resilience/policy.ts';
import type { Metrics } from '../platform/observability/metrics.ts';
import { sagaMigrations } from '../platform/saga/saga.schema.ts';
import { createSagaRunner } from '../platform/saga/saga-runner.ts';
import { controlOf, httpClient } from '../platform/rpc/index.ts';
import { bulkheadFor, MODULE_NAMES, type ModuleName } from '../platform/config/config.ts';
import type { Shard } from '../platform/db/sharding/shard-set.ts';
import type { OutboxRelay } from '../platform/events/relay.ts';
import type { AnySagaDefinition, SagaRunner } from '../platform/saga/saga-runner.ts';
import { createEventMetrics } from './event-metrics.ts';
import { createProviders, type Providers } from './providers.ts';
import { openReplication } from './replication.ts';
import { openShards } from './shards.ts';
import { loadOrCreateSecret } from './secrets.ts';
import { CALLEES, MODULES, planProcess, type Apis, type BuiltModule, type Callee, type ModuleContext, type ModuleDescriptor, type Modules } from './modules.ts';

/** The cache the configuration asks for (the lab switches it): off, L1 only, or L1 + Redis L2 with its bus. */
function createCache(config: Config, logger: Logger, observer?: CacheObserver): Cache {
  const { mode, ttlSeconds, l1MaxItems, redisUrl, l2TimeoutMs } = config.cache;
  if (mode === 'off') return createNoCache(observer);
  if (mode === 'l1l2' && redisUrl) {
    // Every instance that shares data uses the same prefix; the version drops all cached data on a schema change.
    return createTieredCache({
      redisUrl, prefix: 'scalemart:v1', defaultTtlSeconds: ttlSeconds, l1MaxItems, l2TimeoutMs, observer,
      onConnectionError: (err) => logger.warn({ err: err.message }, 'cache: Redis connection error; serving from L1 and the database'),
    });
  }
  return createMemoryCache({ defaultTtlSeconds: ttlSeconds, maxItems: l1MaxItems, observer });
}

/**
 * How often background loops look for work that no one in this process told them about: another
 * process's commits, a saga whose owner died. An embedded database (the default PostgreSQL server
 * under the data directory, or PGlite) belongs to this one process, so everything that happens to
 * it wakes the loops directly, and polling it only spends CPU (idle, the 1 s defaults cost about
 * 50 ms of CPU per second on PGlite, whose every query runs through WASM).
 */
function pollIntervals(config: Config) {
  const embedded = !config.databaseUrl.startsWith('postgres');
  return embedded ? { eventsMs: 30_000, relayIdleMs: 10_000, sagaMs: 10_000 } : { eventsMs: 1_000, relayIdleMs: 500, sagaMs: 1_000 };
}

/** The event log the configuration asks for: a table on the main database, or a JetStream stream. */
async function createEventTransport(config: Config, db: Database, logger: Logger): Promise<EventTransport> {
  if (config.events.transport === 'table') return createTableTransport(db, { pollMs: pollIntervals(config).eventsMs });
  const { url, stream, partitions, retentionHours, dedupWindowSeconds, batch, leaseMs } = config.events.nats;
  return createJetStreamTransport({
    servers: url, stream, partitions, maxAgeSeconds: retentionHours * 3600, duplicateWindowMs: dedupWindowSeconds * 1000, batch, leaseTtlMs: leaseMs, logger: logger.child({ component: 'events' }),
  });
}

/** What a caller of createCore may supply instead of what the configuration chooses. */
export interface CoreOverrides {
  /** Where database pool metrics go (the HTTP process has a registry; the CLI does not). */
  metrics?: Metrics;
  /** Stand-ins for the outside systems (tests decline payments, fail carriers…). */
  providers?: Partial<Omit<Providers, 'close'>>;
}

/** The contract clients of the modules another service runs: by name, and what to close. */
function remoteApis(config: Config, logger: Logger, plan: ReturnType<typeof planProcess>, observer?: DependencyObserver): { apis: Partial<Apis>; close(): Promise<void> } {
  const apis: Partial<Record<Callee, unknown>> = {};
  const clients: object[] = [];
  // The caller names itself in every signed call: the modules it runs.
  const caller = plan.local.join('-').slice(0, 64);
  for (const { module, urls } of plan.remote) {
    const callee = CALLEES[module] as { contract: Parameters<typeof httpClient>[0]; remote?: (client: unknown) => unknown };
    const client = httpClient(callee.contract, { urls, secret: config.internalSecret!, caller, logger: logger.child({ dependency: module }), policy: { ...bulkheadFor(config.service, module), observer } }) as object;
    clients.push(client);
    apis[module] = callee.remote ? callee.remote(client) : client;
  }
  return { apis: apis as Partial<Apis>, close: async () => void (await Promise.all(clients.map((c) => controlOf(c).close()))) };
}

/**
 * Opens the database, wires `modules` (every module unless told) and runs their migrations: a
 * module listed here is built in this process, one it needs that is not is reached through the
 * HTTP client of its contract at the URLs of `SERVICE_URLS`. Background work (relay, the listed
 * modules' consumers, saga recovery when orders runs here) starts only on `startBackground`, so
 * the seeder and the CLI can use the modules without processing anything.
 */
export async function composeProcess(config: Config, logger: Logger, overrides: CoreOverrides = {}, modules: readonly ModuleName[] = MODULE_NAMES) {
  const plan = planProcess(modules, config.service.urls);
  const dbMetrics = overrides.metrics ? createDatabaseMetrics(overrides.metrics) : undefined;
  const eventMetrics = overrides.metrics ? createEventMetrics(overrides.metrics) : undefined;
  const dependencyMetrics = overrides.metrics ? createDependencyMetrics(overrides.metrics) : undefined;
  // A service with a database of its own creates it (and its shards' databases) on first start.
  if (config.databasePerService) for (const url of [config.databaseUrl, ...config.shardUrls]) await ensureDatabase(url);
  // The primary: migrations, the event log, sagas and consumers always work here.
  const db = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: config.dbPoolSize, onAcquireWait: dbMetrics?.onAcquireWait('main'), outbox: config.events.outbox });
  dbMetrics?.watch(db, 'main');
  // What the modules' requests use: the primary, or the primary with its read replicas.
  const replication = await openReplication(config, db, overrides.metrics, dbMetrics);
  const reads = replication?.db ?? db;
  const cached = createCache(config, logger, overrides.metrics ? createCacheMetrics(overrides.metrics) : undefined);
  // A cache load is served to every client, so it reads the primary: a replica that has not yet
  // applied the change that dropped the entry would put the old value back until its TTL. With
  // caching off nothing is shared, and each client's reads may use the replicas.
  const cache = replication && config.cache.mode !== 'off' ? aroundLoads(cached, replication.onPrimary) : cached;
  const tokens = createTokenService({ secret: config.jwtSecret ?? (await loadOrCreateSecret(config.dataDir, 'jwt-secret')), ttlSeconds: config.jwtTtlSeconds });
  const transport = await createEventTransport(config, db, logger);
  const polls = pollIntervals(config);
  const relayOptions = { onPublished: eventMetrics?.published, idleMs: polls.relayIdleMs };
  // The relay of one database's outbox: its table, or its slot (which streams over a connection of its own).
  // In the WAL, it first publishes what the table may still hold from before the switch.
  const relayFor = (outboxDb: Database, url: string): OutboxRelay => {
    const table = createOutboxRelay({ db: outboxDb, transport, logger }, relayOptions);
    return config.events.outbox === 'wal' ? createWalRelay({ db: outboxDb, connectionString: url, transport, logger, leftovers: table }, relayOptions) : table;
  };
  const relay = relayFor(db, config.databaseUrl);
  // Names this process in saga leases (and their logs): unique among live processes.
  const instance = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const providers = createProviders(config, overrides.providers, dependencyMetrics?.('provider'));
  const shards = await openShards(config, db, { metrics: dbMetrics, unsharded: reads, modules: plan.local });

  // Each shard works off its own sagas and its own outbox; the main database's are the monolith's shard.
  const cells = new Map<string, { relay: OutboxRelay; saga?: SagaRunner }>();
  let background = false;
  const cellOf = (shard: Shard) => cells.get(shard.name)!;
  const context: ModuleContext = {
    config, logger, db, reads, cache, tokens, shards, providers,
    nudgeRelay: () => relay.nudge(),
    relayNudgeFor: (shard) => cellOf(shard).relay.nudge(),
    sagaFor: (shard) => cellOf(shard).saga!,
  };

  // Built in table order, so that a module's local dependencies are there before it.
  const remote = remoteApis(config, logger, plan, dependencyMetrics?.('service'));
  const apis: Partial<Apis> = { ...remote.apis };
  const built: Partial<Modules> = {};
  const sagas: AnySagaDefinition[] = [];
  for (const descriptor of MODULES as readonly ModuleDescriptor[]) {
    if (!plan.local.includes(descriptor.name)) continue;
    const module = descriptor.create(context, apis as Apis);
    (built as Record<string, unknown>)[descriptor.name] = module;
    if (descriptor.name in CALLEES) (apis as Record<string, unknown>)[descriptor.name] = module.api;
    sagas.push(...(descriptor.sagas?.(context, apis as Apis) ?? []));
  }
  const localModules = Object.values(built) as BuiltModule[];

  await migrate(db, 'events', eventMigrations);
  // In the WAL, the slot must exist before the first append (the admin's, just below): a message
  // written before it is never decoded. Each shard's is made as the shard opens.
  if (config.events.outbox === 'wal') await ensureWalOutbox(db);
  if (sagas.length > 0) await migrate(db, 'saga', sagaMigrations);
  for (const module of localModules) await migrate(db, module.name, module.migrations);
  if (config.admin && built.identity) await built.identity.api.ensureAdmin(config.admin.email, config.admin.password);

  await shards.onShard(async (shard) => {
    // Unsharded, the one shard is the main database: its sagas and outbox are on the primary, never read from a replica.
    const unsharded = shard.name === 'main';
    if (config.events.outbox === 'wal' && !unsharded) await ensureWalOutbox(shard.db);
    const shardRelay = unsharded ? relay : relayFor(shard.db, (await readShardMap(db)).shards.find((entry) => entry.name === shard.name)!.url);
    const saga = sagas.length === 0 ? undefined : createSagaRunner({
      db: unsharded ? db : shard.db, logger, definitions: sagas, afterSettled: () => shardRelay.nudge(),
      owner: instance, leaseMs: config.sagaLeaseMs, pollMs: polls.sagaMs,
    });
    cells.set(shard.name, { relay: shardRelay, saga });
    // A shard added while running starts working at once.
    if (background) await startCell(shard.name);
  });
  async function startCell(name: string): Promise<void> {
    const cell = cells.get(name)!;
    if (cell.relay !== relay) cell.relay.start();
    // Claims unfinished sagas nobody holds (a crash's leftovers) now and every poll after: a saga
    // whose process died is taken over once its lease lapses, whichever instance is still running.
    cell.saga?.start();
  }
  let mapWatch: NodeJS.Timeout | undefined;

  // Each module's consumers are typed by its own catalogue; the transport hands each only the types it names.
  const consumerOptions: ConsumerOptions[] = localModules.flatMap((module) => module.consumers ?? []).map((c) => ({ ...c, maxAttempts: config.events.maxAttempts }));
  let subscriptions: Subscription[] = [];
  const consumers = consumerOptions.map(({ name, types, delivery }) => ({ name, types, delivery }));
  eventMetrics?.watch({ transport, consumers, relays: () => [...new Set([relay, ...[...cells.values()].map((cell) => cell.relay)])] });

  return {
    db, cache, tokens, transport, relay, shards, modules: built, replication,
    /** The modules built here, in build order, and the contracts this process reaches (local or remote). */
    plan, apis,
    consumers,
    /** Starts the relay and the consumers, and resumes every saga a crash left unfinished. */
    async startBackground(): Promise<void> {
      relay.start();
      built.catalog?.views.start();
      subscriptions = consumerOptions.map((options) => startConsumer({ db, transport, logger, observer: eventMetrics?.consumers }, options));
      background = true;
      for (const name of cells.keys()) await startCell(name);
      // Another process (`scalemart shards add`) may change the shard map; a write routed by an old map is refused by the fence anyway.
      mapWatch = setInterval(() => void shards.refresh().catch((error: unknown) => logger.warn({ err: String(error) }, 'shard map refresh failed')), 1_000);
      mapWatch.unref();
    },
    /** Stops background work after what is in flight, then closes the clients, the cache and the database. */
    async close(): Promise<void> {
      clearInterval(mapWatch);
      await Promise.all([...cells.values()].map((cell) => cell.saga?.stop()));
      await built.catalog?.views.stop();
      await Promise.all(subscriptions.map((s) => s.stop()));
      await relay.stop();
      await Promise.all([...cells.values()].filter((cell) => cell.relay !== relay).map((cell) => cell.relay.stop()));
      await remote.close();
      await transport.close();
      await providers.close();
      await cache.close();
      await shards.close();
      await replication?.close();
      await db.close();
    },
  };
}

export type Composition = Awaited<ReturnType<typeof composeProcess>>;

/** Every module in one process (`--role all`, the seeder, the CLI): `composeProcess` with all of them. */
export async function createCore(config: Config, logger: Logger, overrides: CoreOverrides = {}) {
  const composition = await composeProcess(config, logger, overrides, MODULE_NAMES);
  return { ...composition, modules: composition.modules as Modules };
}

export type Core = Awaited<ReturnType<typeof createCore>>;
