import { OrderEvents } from '../contract.ts';
import type { Projection } from './projection.ts';

/**
 * Units, revenue and orders per product: confirmed orders add, cancelled confirmed orders take back.
 * Each event counts once, even when a replay delivers it again.
 */
export const productSalesProjection: Projection = {
  name: 'orders.product-sales',
  types: [OrderEvents.confirmed, OrderEvents.cancelled],
  async apply(db, event) {
    if (event.type !== OrderEvents.confirmed && event.type !== OrderEvents.cancelled) return;
    const order = event.payload;
    if (event.type === OrderEvents.cancelled && !order.wasConfirmed) return;
    const fresh = await db.query('insert into orders.product_sales_applied (event_id) values ($1) on conflict do nothing', [event.id]);
    if (fresh.rowCount === 0) return;
    const sign = event.type === OrderEvents.confirmed ? 1 : -1;
    for (const line of order.items) {
      await db.query(
        `insert into orders.product_sales (product_id, units, revenue, orders) values ($1, $2, $3, $4)
         on conflict (product_id) do update set units = product_sales.units + excluded.units,
           revenue = product_sales.revenue + excluded.revenue, orders = product_sales.orders + excluded.orders`,
        [line.productId, sign * line.quantity, sign * line.quantity * line.unitPrice, sign],
      );
    }
  },
  reset: (db) => db.exec('delete from orders.product_sales; delete from orders.product_sales_applied;'),
};
