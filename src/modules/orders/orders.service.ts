import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { sqlStateOf, SqlState, type Database } from '../../platform/db/database.ts';
import { DomainError, PlatformErrors } from '../../platform/errors/domain-error.ts';
import { appendToOutbox } from '../../platform/events/outbox.ts';
import type { SagaRunner } from '../../platform/saga/saga-runner.ts';
import type { CatalogApi } from '../catalog/contract.ts';
import type { IdentityApi } from '../identity/contract.ts';
import type { NotificationsApi } from '../notifications/contract.ts';
import { OrderErrorCodes, OrderEvents, type OrderLine, type OrdersApi, type PlaceOrder } from './contract.ts';
import { ORDER_SAGA, type OrderSagaData } from './order-saga.ts';
import { createOrdersRepository } from './orders.repository.ts';

export interface OrdersDeps {
  db: Database;
  saga: SagaRunner;
  catalog: CatalogApi;
  identity: IdentityApi;
  /** Called after an order commits: wakes the outbox relay. */
  afterCommit: () => void;
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

export function createOrdersService(deps: OrdersDeps): OrdersApi {
  const repository = createOrdersRepository(deps.db);

  async function replay(request: PlaceOrder, hash: string) {
    if (!request.idempotencyKey) return null;
    const previous = await repository.findByIdempotencyKey(request.customerId, request.idempotencyKey);
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
    async place(request) {
      const hash = requestHash(request);
      const earlier = await replay(request, hash);
      if (earlier) return earlier;
      const customer = await deps.identity.getUser(request.customerId);
      if (!customer) throw PlatformErrors.unauthenticated('Your account no longer exists.');
      const { lines, total, currency } = await price(request.items);
      const id = uuidv7();
      const data: OrderSagaData = {
        orderId: id, customerId: request.customerId, total, currency, address: request.shippingAddress,
        lines: lines.map((l) => ({ sku: l.sku, quantity: l.quantity })),
      };
      let order;
      try {
        // The order, its saga and its event commit together or not at all.
        order = await deps.db.transaction(async (tx) => {
          const created = await createOrdersRepository(tx).insert({
            id, customerId: customer.id, customerEmail: customer.email, customerName: customer.name, items: lines, total, currency,
            shippingAddress: request.shippingAddress, idempotencyKey: request.idempotencyKey, requestHash: hash,
          });
          await deps.saga.begin(tx, ORDER_SAGA, id, data);
          await appendToOutbox(tx, [{ type: OrderEvents.placed, key: id, payload: { orderId: id, customerId: customer.id, status: 'pending', items: lines, total, currency, createdAt: created.createdAt } }]);
          return created;
        });
      } catch (error) {
        // The same key raced itself: the other request created the order.
        if (sqlStateOf(error) === SqlState.uniqueViolation) {
          const raced = await replay(request, hash);
          if (raced) return raced;
        }
        throw error;
      }
      deps.afterCommit();
      const running = deps.saga.run(id);
      if (deps.processing === 'sync') {
        await running;
        const payload = (await repository.payload(id))!;
        const type = payload.status === 'confirmed' ? OrderEvents.confirmed : OrderEvents.failed;
        await deps.notifications.processNow(type, payload);
        return { order: (await repository.findById(id))!, replayed: false };
      }
      return { order, replayed: false };
    },

    async get(customerId, orderId) {
      const order = await repository.findById(orderId);
      return order && (customerId === null || order.customerId === customerId) ? order : null;
    },

    async cancel(customerId, orderId) {
      const order = await this.get(customerId, orderId);
      if (!order) throw PlatformErrors.notFound('order');
      if ((order.status !== 'pending' && order.status !== 'confirmed') || !(await deps.saga.cancel(orderId))) {
        throw new DomainError('conflict', OrderErrorCodes.notCancellable, `An order that is ${order.status} cannot be cancelled.`);
      }
      deps.afterCommit();
      return (await repository.findById(orderId))!;
    },
  };
}
