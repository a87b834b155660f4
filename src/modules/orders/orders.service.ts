import { createHash } from 'node:crypto';
import { sqlStateOf, SqlState, type Database } from '../../platform/db/database.ts';
import { scatterGather } from '../../platform/db/sharding/scatter-gather.ts';
import type { Shard, ShardSet } from '../../platform/db/sharding/shard-set.ts';
import { DomainError, PlatformErrors } from '../../platform/errors/domain-error.ts';
import { appendToOutbox } from '../../platform/events/outbox.ts';
import { uuid7 } from '../../platform/ids/uuid7.ts';
import type { SagaRunner } from '../../platform/saga/saga-runner.ts';
import type { SagaHistoryEntry } from '../../platform/saga/saga.ts';
import type { CatalogApi } from '../catalog/contract.ts';
import type { IdentityApi } from '../identity/contract.ts';
import type { NotificationsApi } from '../notifications/contract.ts';
import { OrderErrorCodes, OrderEvents, type Order, type OrderEventCatalogue, type OrderLine, type OrdersApi, type OrderStatus, type PlaceOrder } from './contract.ts';
import { listHistory } from './order-history.query.ts';
import { ORDER_SAGA, type OrderSagaData } from './order-saga.ts';
import { createOrdersRepository, type SalesTotal } from './orders.repository.ts';

export interface OrdersDeps {
  /** The unsharded database: the read models (order history) live here. */
  readModels: Database;
  /** Orders live on the shard that owns their customer, with their saga and their outbox rows. */
  shards: ShardSet;
  /** The saga runner working on a shard's sagas. */
  sagaFor: (shard: Shard) => SagaRunner;
  catalog: CatalogApi;
  identity: IdentityApi;
  /** Called after an order commits on a shard: wakes that shard's outbox relay. */
  afterCommit: (shard: Shard) => void;
  /**
   * `async` answers at once; the saga and the notifications run in the background. `sync` (the
   * lab's naive switch) does all of it, notifications included, before answering.
   */
  processing: 'async' | 'sync';
  notifications: NotificationsApi;
}

/** The hash that tells a retried request (same key, same body) from a reused key. */
function requestHash(request: PlaceOrder): string {
  return createHash('sha256').update(JSON.stringify({ items: request.items, shippingAddress: request.shippingAddress })).digest('hex');
}

/** Each shard's share of a cross-shard query must answer within this, or the answer says it is partial. */
const SHARD_QUERY_TIMEOUT_MS = 2_000;

export interface OrdersService extends OrdersApi {
  /** The saga steps an order went through, from its shard. */
  timeline(order: Order): Promise<SagaHistoryEntry[]>;
  /** Every customer's orders, newest first, merged from all shards; `partial` names shards that did not answer. */
  listAll(query: { status?: OrderStatus; beforeId?: string; limit: number }): Promise<{ items: Order[]; partial: readonly string[] }>;
  /** Confirmed sales per currency over all shards; `partial` names shards that did not answer (then the totals are short). */
  salesTotals(): Promise<{ totals: SalesTotal[]; partial: readonly string[] }>;
}

export function createOrdersService(deps: OrdersDeps): OrdersService {
  const { shards } = deps;
  const repositoryFor = (customerId: string) => createOrdersRepository(shards.shardFor(customerId).db);

  /** The customer's order, looked up again on a fresh shard map if a rebalance just moved the customer. */
  async function findOwn(customerId: string, orderId: string): Promise<Order | null> {
    const order = await repositoryFor(customerId).findById(orderId);
    if (order) return order.customerId === customerId ? order : null;
    return (await shards.refresh()) ? findOwn(customerId, orderId) : null;
  }

  /** Any customer's order (support and admin): every shard is asked. */
  async function findAnywhere(orderId: string): Promise<Order | null> {
    const found = await Promise.all(shards.shards().map((shard) => createOrdersRepository(shard.db).findById(orderId)));
    return found.find((order) => order !== null) ?? null;
  }

  async function replay(request: PlaceOrder, hash: string) {
    if (!request.idempotencyKey) return null;
    const previous = await repositoryFor(request.customerId).findByIdempotencyKey(request.customerId, request.idempotencyKey);
    if (!previous) return null;
    if (previous.requestHash !== hash) {
      throw new DomainError('unprocessable', OrderErrorCodes.idempotencyMismatch, 'This Idempotency-Key was used with a different request.');
    }
    return { order: previous.order, replayed: true };
  }

  async function price(items: PlaceOrder['items']): Promise<{ lines: OrderLine[]; total: number; currency: string }> {
    const lines: OrderLine[] = [];
    const currencies = new Set<string>();
    for (const [index, item] of items.entries()) {
      const product = await deps.catalog.getProduct(item.productId);
      if (!product) {
        throw new DomainError('unprocessable', OrderErrorCodes.unknownProduct, `No product ${item.productId}.`, { fields: [{ field: `items.${index}.productId`, message: 'is not a product' }] });
      }
      currencies.add(product.currency);
      lines.push({ productId: product.id, sku: product.sku, name: product.name, quantity: item.quantity, unitPrice: product.price });
    }
    if (currencies.size > 1) throw new DomainError('unprocessable', OrderErrorCodes.mixedCurrencies, 'All items of an order must share a currency.');
    return { lines, total: lines.reduce((sum, l) => sum + l.unitPrice * l.quantity, 0), currency: [...currencies][0]! };
  }

  return {
    recentOrders: (customerId, limit) => listHistory(deps.readModels, customerId, undefined, limit),

    async place(request) {
      const hash = requestHash(request);
      const earlier = await replay(request, hash);
      if (earlier) return earlier;
      const customer = await deps.identity.getUser(request.customerId);
      if (!customer) throw PlatformErrors.unauthenticated('Your account no longer exists.');
      const { lines, total, currency } = await price(request.items);
      const id = uuid7();
      const data: OrderSagaData = {
        orderId: id, customerId: request.customerId, total, currency, address: request.shippingAddress,
        lines: lines.map((l) => ({ sku: l.sku, quantity: l.quantity })),
      };
      let order: Order;
      let shard: Shard;
      try {
        // The order, its saga and its event commit together or not at all, on the customer's shard.
        [order, shard] = await shards.write(customer.id, async (tx, owner) => {
          const created = await createOrdersRepository(tx).insert({
            id, customerId: customer.id, customerEmail: customer.email, customerName: customer.name, items: lines, total, currency,
            shippingAddress: request.shippingAddress, idempotencyKey: request.idempotencyKey, requestHash: hash,
          });
          await deps.sagaFor(owner).begin(tx, ORDER_SAGA, id, data);
          await appendToOutbox<OrderEventCatalogue>(tx, [{ type: OrderEvents.placed, key: id, payload: { orderId: id, customerId: customer.id, status: 'pending', items: lines, total, currency, createdAt: created.createdAt } }]);
          return [created, owner] as const;
        });
      } catch (error) {
        // The same key raced itself: the other request created the order.
        if (sqlStateOf(error) === SqlState.uniqueViolation) {
          const raced = await replay(request, hash);
          if (raced) return raced;
        }
        throw error;
      }
      deps.afterCommit(shard);
      const running = deps.sagaFor(shard).run(id);
      if (deps.processing === 'sync') {
        await running;
        const repository = createOrdersRepository(shard.db);
        const payload = (await repository.payload(id))!;
        const type = payload.status === 'confirmed' ? OrderEvents.confirmed : OrderEvents.failed;
        await deps.notifications.processNow(type, payload);
        return { order: (await repository.findById(id))!, replayed: false };
      }
      return { order, replayed: false };
    },

    get: (customerId, orderId) => (customerId === null ? findAnywhere(orderId) : findOwn(customerId, orderId)),

    async cancel(customerId, orderId) {
      const order = await findOwn(customerId, orderId);
      if (!order) throw PlatformErrors.notFound('order');
      const shard = shards.shardFor(customerId);
      if ((order.status !== 'pending' && order.status !== 'confirmed') || !(await deps.sagaFor(shard).cancel(orderId))) {
        // A rebalance may have moved the customer's orders just now: ask their new shard.
        if (await shards.refresh()) return this.cancel(customerId, orderId);
        throw new DomainError('conflict', OrderErrorCodes.notCancellable, `An order that is ${order.status} cannot be cancelled.`);
      }
      deps.afterCommit(shard);
      return (await createOrdersRepository(shard.db).findById(orderId))!;
    },

    timeline: (order) => deps.sagaFor(shards.shardFor(order.customerId)).history(order.id),

    async listAll(query) {
      const byName = new Map(shards.shards().map((shard) => [shard.name, shard]));
      // Each shard sorts and limits its share, so the merge handles at most shards × limit rows.
      const { rows, partial } = await scatterGather({
        shards: [...byName.keys()],
        query: (name, signal) => createOrdersRepository(byName.get(name)!.db).listRecent(query, signal),
        timeoutMs: SHARD_QUERY_TIMEOUT_MS,
        compare: (a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
        limit: query.limit,
      });
      return { items: [...rows], partial };
    },

    async salesTotals() {
      const byName = new Map(shards.shards().map((shard) => [shard.name, shard]));
      const { rows, partial } = await scatterGather({
        shards: [...byName.keys()],
        query: (name) => createOrdersRepository(byName.get(name)!.db).sales(),
        timeoutMs: SHARD_QUERY_TIMEOUT_MS,
        compare: (a, b) => a.currency.localeCompare(b.currency),
      });
      const totals = new Map<string, SalesTotal>();
      for (const row of rows) {
        const sum = totals.get(row.currency) ?? { currency: row.currency, orders: 0, revenue: 0 };
        totals.set(row.currency, { currency: row.currency, orders: sum.orders + row.orders, revenue: sum.revenue + row.revenue });
      }
      return { totals: [...totals.values()], partial };
    },
  };
}
