import type { Queryable } from '../../platform/db/database.ts';
import { appendToOutbox } from '../../platform/events/outbox.ts';
import { CANCELLED, type SagaDefinition, type SagaStep } from '../../platform/saga/saga.ts';
import type { InventoryApi } from '../inventory/contract.ts';
import type { PaymentsApi } from '../payments/contract.ts';
import type { ShippingAddress, ShippingApi } from '../shipping/contract.ts';
import { isFailureReason, OrderEvents, type OrderEventCatalogue, type OrderEventPayload } from './contract.ts';
import { createOrdersRepository } from './orders.repository.ts';

export const ORDER_SAGA = 'order';

/** What the order saga carries from step to step (persisted with it). */
export interface OrderSagaData {
  orderId: string;
  customerId: string;
  lines: { sku: string; quantity: number }[];
  total: number;
  currency: string;
  address: ShippingAddress;
  chargeId?: string;
  trackingNumber?: string;
}

export interface OrderSagaDeps {
  inventory: InventoryApi;
  payments: PaymentsApi;
  shipping: ShippingApi;
  /** Per-step attempt budget for transient failures; the lab and the tests shorten it. */
  attempts?: number;
  timeoutMs?: number;
}

/**
 * Reserve stock → charge → book shipment → commit stock. A refusal compensates the steps before it
 * in reverse (cancel shipment, refund, release stock) and the order fails with the step's reason.
 */
export function createOrderSaga(deps: OrderSagaDeps): SagaDefinition<OrderSagaData> {
  const policy = { attempts: deps.attempts ?? 3, timeoutMs: deps.timeoutMs ?? 10_000 };
  const steps: SagaStep<OrderSagaData>[] = [
    {
      name: 'reserve-stock',
      ...policy,
      unavailableReason: 'INVENTORY_UNAVAILABLE',
      async run(data) {
        const result = await deps.inventory.reserve(data.orderId, data.lines);
        return result.ok ? { ok: true } : { ok: false, reason: result.reason };
      },
      compensate: async (data) => void (await deps.inventory.release(data.orderId)),
    },
    {
      name: 'charge-payment',
      ...policy,
      unavailableReason: 'PAYMENT_UNAVAILABLE',
      async run(data, context) {
        const result = await deps.payments.charge({
          orderId: data.orderId, customerId: data.customerId, amount: data.total, currency: data.currency, idempotencyKey: context.idempotencyKey,
        });
        return result.ok ? { ok: true, data: { chargeId: result.chargeId } } : { ok: false, reason: result.reason };
      },
      compensate: (data) => deps.payments.refund(data.orderId),
    },
    {
      name: 'book-shipment',
      ...policy,
      unavailableReason: 'SHIPPING_UNAVAILABLE',
      async run(data, context) {
        const result = await deps.shipping.book({ orderId: data.orderId, address: data.address, items: data.lines, idempotencyKey: context.idempotencyKey });
        return result.ok ? { ok: true, data: { trackingNumber: result.trackingNumber } } : { ok: false, reason: result.reason };
      },
      compensate: (data) => deps.shipping.cancel(data.orderId),
    },
    {
      name: 'commit-stock',
      ...policy,
      unavailableReason: 'INVENTORY_UNAVAILABLE',
      // Committing twice is harmless (false the second time), so a rerun after a crash is fine.
      run: async (data) => (await deps.inventory.commit(data.orderId), { ok: true }),
      compensate: async (data) => void (await deps.inventory.returnStock(data.orderId)),
    },
  ];

  async function publish(tx: Queryable, type: typeof OrderEvents.confirmed | typeof OrderEvents.failed | typeof OrderEvents.cancelled, payload: OrderEventPayload) {
    await appendToOutbox<OrderEventCatalogue>(tx, [{ type, key: payload.orderId, payload }]);
  }

  return {
    type: ORDER_SAGA,
    steps,
    async onCompleted(tx, _sagaId, data) {
      const payload = await createOrdersRepository(tx).transition(data.orderId, 'confirmed', { trackingNumber: data.trackingNumber });
      if (payload) await publish(tx, OrderEvents.confirmed, payload);
    },
    async onFailed(tx, _sagaId, data, reason) {
      // Every reason comes from this file (steps' refusals and unavailableReason) or is CANCELLED.
      if (!isFailureReason(reason)) throw new Error(`order saga: "${reason}" is not one of the FailureReasons of the orders contract`);
      const repository = createOrdersRepository(tx);
      const payload = reason === CANCELLED
        ? await repository.transition(data.orderId, 'cancelled', { failureReason: CANCELLED })
        : await repository.transition(data.orderId, 'failed', { failureReason: reason });
      if (payload) await publish(tx, reason === CANCELLED ? OrderEvents.cancelled : OrderEvents.failed, payload);
    },
  };
}
