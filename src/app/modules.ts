import type { Logger } from 'pino';
import type { TokenService } from '../platform/auth/tokens.ts';
import type { Cache } from '../platform/cache/cache.ts';
import { ConfigError, MODULE_NAMES, type Config, type ModuleName } from '../platform/config/config.ts';
import type { Database } from '../platform/db/database.ts';
import type { Migration } from '../platform/db/migrations.ts';
import type { Shard, ShardSet } from '../platform/db/sharding/shard-set.ts';
import type { ConsumerOptions } from '../platform/events/consumer.ts';
import type { HttpApp } from '../platform/http/create-app.ts';
import type { ContractTable } from '../platform/rpc/index.ts';
import type { AnySagaDefinition, SagaRunner } from '../platform/saga/saga-runner.ts';
import { createCatalogModule, type CatalogModule } from '../modules/catalog/index.ts';
import type { CatalogApi } from '../modules/catalog/contract.ts';
import { catalogContract } from '../modules/catalog/contract.rpc.ts';
import { createIdentityModule, type IdentityModule } from '../modules/identity/index.ts';
import type { IdentityApi } from '../modules/identity/contract.ts';
import { identityContract } from '../modules/identity/contract.rpc.ts';
import { createInventoryModule, type InventoryModule } from '../modules/inventory/index.ts';
import type { InventoryApi } from '../modules/inventory/contract.ts';
import { inventoryContract } from '../modules/inventory/contract.rpc.ts';
import { createMailer, createNotificationsModule, type NotificationsModule } from '../modules/notifications/index.ts';
import type { NotificationsApi } from '../modules/notifications/contract.ts';
import { notificationsContract } from '../modules/notifications/contract.rpc.ts';
import { createOrderSaga, createOrdersModule, type OrdersModule } from '../modules/orders/index.ts';
import { createPaymentsModule, type PaymentsModule } from '../modules/payments/index.ts';
import type { PaymentsApi } from '../modules/payments/contract.ts';
import { paymentsContract } from '../modules/payments/contract.rpc.ts';
import { createShippingModule, type ShippingModule } from '../modules/shipping/index.ts';
import type { ShippingApi } from '../modules/shipping/contract.ts';
import { shippingContract } from '../modules/shipping/contract.rpc.ts';
import type { Providers } from './providers.ts';

/** Every module, built. A service process builds some of them (`Partial<Modules>`). */
export interface Modules {
  identity: IdentityModule;
  inventory: InventoryModule;
  catalog: CatalogModule;
  payments: PaymentsModule;
  shipping: ShippingModule;
  notifications: NotificationsModule;
  orders: OrdersModule;
}

/** The contracts other modules call: each is a local api or, in a service process, a client of another service. */
export interface Apis {
  identity: IdentityApi;
  inventory: InventoryApi;
  catalog: CatalogApi;
  payments: PaymentsApi;
  shipping: ShippingApi;
  notifications: NotificationsApi;
}
export type Callee = keyof Apis;

/** What the composition root hands every module: the process's databases, cache, providers and hooks into its background work. */
export interface ModuleContext {
  config: Config;
  logger: Logger;
  /** The primary. */
  db: Database;
  /** The primary, or the primary with its read replicas. */
  reads: Database;
  cache: Cache;
  tokens: TokenService;
  shards: ShardSet;
  providers: Omit<Providers, 'close'>;
  /** Wakes the main database's outbox relay. */
  nudgeRelay(): void;
  /** Each shard's outbox relay and saga runner. */
  relayNudgeFor(shard: Shard): void;
  sagaFor(shard: Shard): SagaRunner;
}

/** One module as the composition root sees it. */
export interface ModuleDescriptor<N extends ModuleName = ModuleName> {
  name: N;
  /**
   * The public path prefixes its routes live under (`/api/v1/products` covers `/api/v1/products`
   * and `/api/v1/products/…`): a fleet's gateways send them to the group that runs the module.
   * No two modules share a prefix; a module with none is reached through its contract only.
   */
  publicPrefixes: readonly string[];
  /** The contracts it calls: built first when listed in the process, else reached through their clients. */
  requires: readonly Callee[];
  create(ctx: ModuleContext, apis: Apis): Modules[N];
  /** The sagas it runs (each shard's runner runs them). */
  sagas?(ctx: ModuleContext, apis: Apis): AnySagaDefinition[];
}

/** What a contract is on the wire, and what a caller gets in place of its local-only methods when it is remote. */
export interface CalleeDescriptor<N extends Callee> {
  contract: ContractTable<Apis[N]>;
  /** Stands in for local-only methods that a caller uses unconditionally. */
  remote?(client: Apis[N]): Apis[N];
}

export const CALLEES: { readonly [N in Callee]: CalleeDescriptor<N> } = {
  identity: { contract: identityContract },
  // Catalog registers a callback that drops its cached product pages on a stock change; across
  // processes the inventory service publishes `inventory.stock.changed` instead, which catalog consumes.
  inventory: { contract: inventoryContract, remote: (client) => ({ ...client, onStockChanged: () => undefined }) },
  catalog: { contract: catalogContract },
  payments: { contract: paymentsContract },
  shipping: { contract: shippingContract },
  // The lab's synchronous switch: with notifications elsewhere, order events reach it over the event log.
  notifications: { contract: notificationsContract, remote: (client) => ({ ...client, processNow: async () => undefined }) },
};

/** The events admin routes (`platform/events/events.routes.ts`), which every process registers. */
export const EVENTS_ADMIN_PREFIX = '/api/v1/admin/events';

/**
 * `GET /api/v1/storefront/home` joins catalog and orders: a process running both serves it, and a
 * gateway in front of services composes it itself from the pools of `/api/v1/products` and
 * `/api/v1/orders` (app/gateway-storefront.ts), so no module owns it.
 */
export const STOREFRONT_PREFIX = '/api/v1/storefront';

/** Whether `prefix` covers `path`: the path itself, or a path under it (as the gateway matches). */
export const covers = (prefix: string, path: string) => path === prefix || path.startsWith(`${prefix}/`);

/** Keeps each entry's own module type (its `create` answers that module). */
const entry = <N extends ModuleName>(d: ModuleDescriptor<N>) => d;

/** Every module, in build order: a module comes after every module it requires. */
export const MODULES = [
  entry({
    name: 'identity', publicPrefixes: ['/api/v1/auth', '/api/v1/users', '/api/v1/admin/api-keys'], requires: [],
    create: (ctx) => createIdentityModule({ db: ctx.reads, tokens: ctx.tokens, cache: ctx.cache }),
  }),
  entry({
    name: 'inventory', publicPrefixes: ['/api/v1/inventory'], requires: [],
    create: (ctx) => createInventoryModule({
      shards: ctx.shards.keyspace('inventory'), cache: ctx.cache, httpMaxAgeSeconds: ctx.config.httpMaxAgeSeconds,
      onChangeError: (error, skus) => ctx.logger.warn({ err: error instanceof Error ? error.message : String(error), skus }, 'inventory: a cached view of changed stock could not be dropped; it lives until its TTL'),
      // A service's catalog may run in other processes: they hear of stock changes on the event log.
      publishChanges: ctx.config.role === 'service' ? { afterCommit: ctx.relayNudgeFor } : undefined,
    }),
  }),
  entry({
    name: 'catalog', publicPrefixes: ['/api/v1/products'], requires: ['inventory'],
    create: (ctx, apis) => createCatalogModule({ db: ctx.reads, cache: ctx.cache, inventory: apis.inventory, httpMaxAgeSeconds: ctx.config.httpMaxAgeSeconds, afterCommit: ctx.nudgeRelay }),
  }),
  entry({
    name: 'payments', publicPrefixes: [], requires: [],
    create: (ctx) => createPaymentsModule({ db: ctx.db, provider: ctx.providers.payments }),
  }),
  entry({
    name: 'shipping', publicPrefixes: [], requires: [],
    create: (ctx) => createShippingModule({ db: ctx.db, carrier: ctx.providers.carrier }),
  }),
  entry({
    name: 'notifications', publicPrefixes: [], requires: [],
    create: ({ config, db, providers }) => createNotificationsModule({
      db,
      mailer: createMailer({ url: config.notifications.emailUrl, dir: `${config.dataDir}/mail`, timeoutMs: config.providers.timeoutMs * 5 }),
      warehouse: providers.warehouse,
      invoiceHoldMs: config.notifications.invoiceHoldMs,
    }),
  }),
  entry({
    name: 'orders',
    // The events admin (dead letters, replay) is registered by every process on the shared
    // database; a fleet's gateways send it to the group running orders, as they do anything else.
    publicPrefixes: ['/api/v1/orders', '/api/v1/admin/orders', '/api/v1/admin/sales', EVENTS_ADMIN_PREFIX],
    // catalog, identity and notifications for the orders service; the rest for its saga.
    requires: ['catalog', 'identity', 'notifications', 'inventory', 'payments', 'shipping'],
    create: (ctx, apis) => createOrdersModule({
      db: ctx.reads, shards: ctx.shards.keyspace('orders'), sagaFor: ctx.sagaFor, catalog: apis.catalog, identity: apis.identity, notifications: apis.notifications,
      afterCommit: ctx.relayNudgeFor, processing: ctx.config.orders.processing,
    }),
    sagas: (ctx, apis) => [createOrderSaga({
      inventory: apis.inventory, payments: apis.payments, shipping: apis.shipping,
      attempts: ctx.config.orders.stepAttempts, timeoutMs: ctx.config.orders.stepTimeoutMs,
    })],
  }),
] as const satisfies readonly ModuleDescriptor[];

/** What a built module may offer the process: routes, consumers, migrations. */
export interface BuiltModule {
  name: ModuleName;
  migrations: Migration[];
  api: unknown;
  consumers?: ConsumerOptions[];
  registerRoutes?(app: HttpApp): void;
}

/** A process's split: the modules it builds, and the contracts it reaches over HTTP with their instances' URLs. */
export interface ProcessPlan {
  local: ModuleName[];
  remote: Array<{ module: Callee; urls: string[] }>;
}

/**
 * Which modules run here and which are called elsewhere: those the local modules need, and any
 * other contract SERVICE_URLS names (a fleet names every module: the catalog group then reaches
 * identity to seed the demo users and to resolve API keys). Refuses, in one line, a module this
 * process needs but neither runs nor has URLs for in SERVICE_URLS.
 */
export function planProcess(modules: readonly ModuleName[], urls: Partial<Record<ModuleName, string[]>>): ProcessPlan {
  const local = MODULE_NAMES.filter((name) => modules.includes(name));
  const needed = new Map<Callee, ModuleName[]>();
  for (const d of MODULES) {
    if (!local.includes(d.name)) continue;
    for (const callee of d.requires) if (!local.includes(callee)) needed.set(callee, [...(needed.get(callee) ?? []), d.name]);
  }
  const missing = [...needed].filter(([callee]) => !urls[callee]?.length);
  if (missing.length > 0) {
    const said = missing.map(([callee, by]) => `${callee} (needed by ${by.join(', ')})`).join(', ');
    throw new ConfigError(`SERVICE_URLS: no instances given for ${said}; run them here (--modules) or name them: SERVICE_URLS="${missing[0]![0]}=http://host:port[,…];…"`);
  }
  const named = (Object.keys(CALLEES) as Callee[]).filter((callee) => !local.includes(callee) && !needed.has(callee) && urls[callee]?.length);
  return { local, remote: [...needed.keys(), ...named].map((module) => ({ module, urls: urls[module]! })) };
}
