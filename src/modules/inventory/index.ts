import type { Cache } from '../../platform/cache/cache.ts';
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
  registerRoutes(app: HttpApp): void;
}

/** Stock lives on the shards, by SKU (one shard, the main database, in the monolith stage). */
export function createInventoryModule(deps: { shards: ShardSet; cache: Cache; httpMaxAgeSeconds: number } & InventoryServiceOptions): InventoryModule {
  const api = createInventoryService(deps.shards, deps.cache, { onChangeError: deps.onChangeError, publishChanges: deps.publishChanges });
  return {
    name: 'inventory',
    migrations: inventoryMigrations,
    api,
    registerRoutes: (app) => registerInventoryRoutes(app, api, { maxAgeSeconds: deps.httpMaxAgeSeconds }),
  };
}
export { inventoryMigrations } from './inventory.schema.ts';
