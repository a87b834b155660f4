import type { Cache } from '../../platform/cache/cache.ts';
import type { Database } from '../../platform/db/database.ts';
import type { Migration } from '../../platform/db/migrations.ts';
import type { HttpApp } from '../../platform/http/create-app.ts';
import type { InventoryApi } from './contract.ts';
import { registerInventoryRoutes } from './inventory.routes.ts';
import { inventoryMigrations } from './inventory.schema.ts';
import { createInventoryService } from './inventory.service.ts';

export interface InventoryModule {
  name: 'inventory';
  migrations: Migration[];
  api: InventoryApi;
  registerRoutes(app: HttpApp): void;
}

export function createInventoryModule(deps: { db: Database; cache: Cache; httpMaxAgeSeconds: number }): InventoryModule {
  const api = createInventoryService(deps.db, deps.cache);
  return {
    name: 'inventory',
    migrations: inventoryMigrations,
    api,
    registerRoutes: (app) => registerInventoryRoutes(app, api, { maxAgeSeconds: deps.httpMaxAgeSeconds }),
  };
}
