import type { Database } from '../../platform/db/database.ts';
import type { Shard, ShardSet } from '../../platform/db/sharding/shard-set.ts';
import type { ConsumerOptions } from '../../platform/events/consumer.ts';
import type { Migration } from '../../platform/db/migrations.ts';
import type { HttpApp } from '../../platform/http/create-app.ts';
import type { SagaRunner } from '../../platform/saga/saga-runner.ts';
import type { CatalogApi } from '../catalog/contract.ts';
import type { IdentityApi } from '../identity/contract.ts';
import type { NotificationsApi } from '../notifications/contract.ts';
import type { OrdersApi } from './contract.ts';
import { ordersMigrations } from './orders.schema.ts';
import { registerOrderRoutes } from './orders.routes.ts';
import { createOrdersService } from './orders.service.ts';
import { orderHistoryProjection } from './projections/order-history.projection.ts';
import type { OrderEvent, Projection } from './projections/projection.ts';
import { productSalesProjection } from './projections/product-sales.projection.ts';

export interface OrdersModule {
  name: 'orders';
  migrations: Migration[];
  api: OrdersApi;
  projections: Projection[];
  /** The projections as durable transactional consumers. */
  consumers: ConsumerOptions<OrderEvent>[];
  registerRoutes(app: HttpApp): void;
}

export interface OrdersModuleDeps {
  /** The unsharded database: the read models live here. */
  db: Database;
  /** Where orders live, by customer id. */
  shards: ShardSet;
  /** Each shard's saga runner, built by the composition root from `createOrderSaga`. */
  sagaFor: (shard: Shard) => SagaRunner;
  catalog: CatalogApi;
  identity: IdentityApi;
  notifications: NotificationsApi;
  afterCommit: (shard: Shard) => void;
  processing: 'async' | 'sync';
}

export function createOrdersModule(deps: OrdersModuleDeps): OrdersModule {
  const api = createOrdersService({
    readModels: deps.db, shards: deps.shards, sagaFor: deps.sagaFor, catalog: deps.catalog, identity: deps.identity,
    afterCommit: deps.afterCommit, processing: deps.processing, notifications: deps.notifications,
  });
  const projections = [orderHistoryProjection, productSalesProjection];
  return {
    name: 'orders',
    migrations: ordersMigrations,
    api,
    projections,
    consumers: projections.map((p) => ({ name: p.name, types: p.types, transactional: true, handle: (event, tx) => p.apply(tx, event) })),
    registerRoutes: (app) => registerOrderRoutes(app, { db: deps.db, orders: api, notifications: deps.notifications }),
  };
}

export { createOrderSaga } from './order-saga.ts';
export { rebuildProjection } from './projections/projection.ts';
export { ordersMigrations } from './orders.schema.ts';
