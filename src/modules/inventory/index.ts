import type { Cache } from '../../platform/cache/cache.ts';
import type { EventOf } from '../../platform/events/catalogue.ts';
import type { ConsumerOptions } from '../../platform/events/consumer.ts';
import { CatalogEvents, type CatalogEventCatalogue } from '../catalog/contract.ts';
import type { ShardSet } from '../../platform/db/sharding/shard-set.ts';
import type { Migration } from '../../platform/db/migrations.ts';
import type { HttpApp } from '../../platform/http/create-app.ts';
import type { InventoryApi } from './contract.ts';
import { registerInventoryRoutes } from './inventory.routes.ts';
import { inventoryMigrations } from './inventory.schema.ts';
import { createInventoryService, type InventoryServiceOptions } from './inventory.service.ts';

export interface InventoryModule {
  name: 'inventory';
  migrations: Migration[];
  api: InventoryApi;
  /** Gives each created product its first stock, from the catalog's event (once per group). */
  consumers: ConsumerOptions<EventOf<CatalogEventCatalogue, typeof CatalogEvents.created>>[];
  registerRoutes(app: HttpApp): void;
}

/** Stock lives on the shards, by SKU (one shard, the main database, in the monolith stage). */
export function createInventoryModule(deps: { shards: ShardSet; cache: Cache; httpMaxAgeSeconds: number } & InventoryServiceOptions): InventoryModule {
  const api = createInventoryService(deps.shards, deps.cache, { onChangeError: deps.onChangeError, publishChanges: deps.publishChanges });
  return {
    name: 'inventory',
    migrations: inventoryMigrations,
    api,
    consumers: [{
      name: 'inventory-initial-stock',
      types: [CatalogEvents.created],
      // Idempotent: a SKU the product's route (or an earlier delivery) already stocked keeps its stock.
      handle: async ({ payload }) => void (payload.initialStock === undefined ? undefined : await api.initStock(payload.sku, payload.initialStock)),
    }],
    registerRoutes: (app) => registerInventoryRoutes(app, api, { maxAgeSeconds: deps.httpMaxAgeSeconds }),
  };
}
export { inventoryMigrations } from './inventory.schema.ts';
