import { OrderEvents } from '../contract.ts';
import type { Projection } from './projection.ts';

/** Each customer's orders, newest first: what `GET /orders` reads. */
export const orderHistoryProjection: Projection = {
  name: 'orders.order-history',
  types: [OrderEvents.placed, OrderEvents.confirmed, OrderEvents.failed, OrderEvents.cancelled],
  async apply(db, event) {
    const order = event.payload;
    await db.query(
      `insert into orders.history (order_id, customer_id, status, total, currency, item_count, failure_reason, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       on conflict (order_id) do update set status = excluded.status, failure_reason = excluded.failure_reason, updated_at = excluded.updated_at
       where orders.history.updated_at <= excluded.updated_at`,
      [order.orderId, order.customerId, order.status, order.total, order.currency, order.items.reduce((n, i) => n + i.quantity, 0),
        'failureReason' in order ? (order.failureReason ?? null) : null, order.createdAt, event.occurredAt],
    );
  },
  reset: (db) => db.exec('delete from orders.history'),
};
