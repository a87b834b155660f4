import type { Cache } from '../../platform/cache/cache.ts';
import type { Database } from '../../platform/db/database.ts';
import type { Migration } from '../../platform/db/migrations.ts';
import type { EventOf } from '../../platform/events/catalogue.ts';
import type { ConsumerOptions } from '../../platform/events/consumer.ts';
import type { HttpApp } from '../../platform/http/create-app.ts';
import { InventoryEvents, type InventoryApi, type InventoryEventCatalogue } from '../inventory/contract.ts';
import { CatalogEvents, type CatalogApi, type CatalogEventCatalogue } from './contract.ts';
import { registerCatalogRoutes } from './catalog.routes.ts';
import { catalogMigrations } from './catalog.schema.ts';
import { createCatalogService, type CatalogService } from './catalog.service.ts';
import { createViewCounter, type ViewCounter } from './views/view-counter.ts';
import { registerViewRoutes, type Popular } from './views/views.routes.ts';

/** How long a popularity ranking is served before it is read again. */
const POPULAR_TTL_SECONDS = 10;

export interface CatalogModule {
  name: 'catalog';
  migrations: Migration[];
  api: CatalogApi;
  /** Write-behind view counts; the composition root starts and stops its flusher. */
  views: ViewCounter;
  /**
   * Drop cached pages on every catalog change and every stock change published by an inventory in
   * another process, whichever instance made it: broadcasts, so every instance drops its own.
   */
  consumers: [ConsumerOptions<EventOf<CatalogEventCatalogue>>, ConsumerOptions<EventOf<InventoryEventCatalogue>>];
  registerRoutes(app: HttpApp): void;
}

/** The catalog reaches stock through the inventory contract only. */
export function createCatalogModule(deps: {
  db: Database;
  cache: Cache;
  inventory: InventoryApi;
  httpMaxAgeSeconds: number;
  /** Called after a change commits: wakes the outbox relay. */
  afterCommit: () => void;
}): CatalogModule {
  const service = createCatalogService(deps.db, deps.cache, deps.inventory, deps.afterCommit);
  const views = createViewCounter(deps.db);
  // The ranking changes with every flush: it is cached for a few seconds, and that TTL is its freshness.
  const rankings = deps.cache.namespace('catalog:v1:popular');
  const ranking: Popular = (limit, category) =>
    rankings.getOrSet(JSON.stringify([category ?? null, limit]), () => views.top(limit, category), { ttlSeconds: POPULAR_TTL_SECONDS });
  const api: CatalogService = {
    ...service,
    async popularProducts(limit, category) {
      const ranked = await ranking(limit, category);
      // Products come from their cached pages; one removed since it was counted is left out.
      const details = await Promise.all(ranked.map(({ productId }) => service.getProductDetail(productId)));
      return ranked.flatMap(({ views: count }, i) => {
        const detail = details[i];
        return detail ? [{ ...detail, views: count }] : [];
      });
    },
  };
  return {
    name: 'catalog',
    migrations: catalogMigrations,
    api,
    views,
    consumers: [{
      name: 'catalog-cache-invalidation',
      types: [CatalogEvents.created, CatalogEvents.updated],
      delivery: 'broadcast',
      handle: (event) => api.invalidate(event.type, event.payload),
    }, {
      name: 'catalog-stock-invalidation',
      types: [InventoryEvents.stockChanged],
      delivery: 'broadcast',
      handle: (event) => api.stockChanged([event.payload]),
    }],
    registerRoutes(app) {
      registerCatalogRoutes(app, api, deps.inventory, { maxAgeSeconds: deps.httpMaxAgeSeconds });
      registerViewRoutes(app, api, views, { maxAgeSeconds: POPULAR_TTL_SECONDS });
    },
  };
}
