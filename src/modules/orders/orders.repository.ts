import type { Queryable } from '../../platform/db/database.ts';
import type { ShippingAddress } from '../shipping/contract.ts';
import { ORDER_STATUSES, ORDER_TRANSITIONS, type FailureReason, type Order, type OrderEventPayload, type OrderLine, type OrderStatus } from './contract.ts';

interface OrderRow {
  id: string;
  customer_id: string;
  customer_email: string;
  customer_name: string;
  status: OrderStatus;
  items: OrderLine[];
  total: number;
  currency: string;
  shipping_address: ShippingAddress;
  failure_reason: FailureReason | null;
  tracking_number: string | null;
  request_hash: string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

const toOrder = (row: OrderRow): Order => ({
  id: row.id,
  customerId: row.customer_id,
  status: row.status,
  items: row.items,
  total: row.total,
  currency: row.currency,
  shippingAddress: row.shipping_address,
  ...(row.failure_reason ? { failureReason: row.failure_reason } : {}),
  ...(row.tracking_number ? { trackingNumber: row.tracking_number } : {}),
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
});

function toPayload(row: OrderRow): OrderEventPayload {
  const order = toOrder(row);
  return {
    orderId: order.id, customerId: order.customerId, customerEmail: row.customer_email, customerName: row.customer_name, status: order.status,
    items: order.items, total: order.total, currency: order.currency, shippingAddress: order.shippingAddress, failureReason: order.failureReason,
    trackingNumber: order.trackingNumber, createdAt: order.createdAt,
  };
}

export interface SalesTotal {
  currency: string;
  orders: number;
  /** Minor units. */
  revenue: number;
}

export interface NewOrder {
  id: string;
  customerId: string;
  customerEmail: string;
  customerName: string;
  items: OrderLine[];
  total: number;
  currency: string;
  shippingAddress: ShippingAddress;
  idempotencyKey?: string;
  requestHash: string;
}

export function createOrdersRepository(db: Queryable) {
  return {
    async insert(order: NewOrder): Promise<Order> {
      const { rows } = await db.query<OrderRow>(
        `insert into orders.orders (id, customer_id, customer_email, customer_name, status, items, total, currency, shipping_address, idempotency_key, request_hash)
         values ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10) returning *`,
        [order.id, order.customerId, order.customerEmail, order.customerName, JSON.stringify(order.items), order.total, order.currency,
          JSON.stringify(order.shippingAddress), order.idempotencyKey ?? null, order.requestHash],
      );
      return toOrder(rows[0]!);
    },
    async findById(id: string): Promise<Order | null> {
      const { rows } = await db.query<OrderRow>('select * from orders.orders where id = $1', [id]);
      return rows[0] ? toOrder(rows[0]) : null;
    },
    async findByIdempotencyKey(customerId: string, key: string): Promise<{ order: Order; requestHash: string | null } | null> {
      const { rows } = await db.query<OrderRow>('select * from orders.orders where customer_id = $1 and idempotency_key = $2', [customerId, key]);
      return rows[0] ? { order: toOrder(rows[0]), requestHash: rows[0].request_hash } : null;
    },
    /** Newest first (ids are UUIDv7, so id order is time order); `beforeId` continues a listing. */
    async listRecent(filter: { status?: OrderStatus; beforeId?: string; limit: number }, signal?: AbortSignal): Promise<Order[]> {
      const { rows } = await db.query<OrderRow>(
        `select * from orders.orders where ($1::text is null or status = $1) and ($2::text is null or id < $2) order by id desc limit $3`,
        [filter.status ?? null, filter.beforeId ?? null, filter.limit],
      );
      signal?.throwIfAborted();
      return rows.map(toOrder);
    },
    /** Confirmed orders and their revenue, per currency. */
    async sales(): Promise<SalesTotal[]> {
      const { rows } = await db.query<{ currency: string; orders: number; revenue: string }>(
        `select currency, count(*)::int as orders, sum(total)::bigint as revenue from orders.orders where status = 'confirmed' group by currency`,
      );
      return rows.map((row) => ({ currency: row.currency, orders: row.orders, revenue: Number(row.revenue) }));
    },
    /** The event payload describing the order as it stands. */
    async payload(id: string): Promise<OrderEventPayload | null> {
      const { rows } = await db.query<OrderRow>('select * from orders.orders where id = $1', [id]);
      return rows[0] ? toPayload(rows[0]) : null;
    },
    /**
     * Moves the order to `to` if ORDER_TRANSITIONS allows it from its current status, and returns
     * the event payload describing it; null when the order was in a status that cannot move there.
     */
    async transition(id: string, to: OrderStatus, changes: { failureReason?: FailureReason; trackingNumber?: string } = {}): Promise<OrderEventPayload | null> {
      const from = ORDER_STATUSES.filter((status) => ORDER_TRANSITIONS[status].includes(to));
      const { rows } = await db.query<OrderRow & { previous: OrderStatus }>(
        `update orders.orders o set status = $3, failure_reason = coalesce($4, o.failure_reason), tracking_number = coalesce($5, o.tracking_number), updated_at = now()
         from (select id, status as previous from orders.orders where id = $1 for update) p
         where o.id = p.id and o.status = any($2::text[]) returning o.*, p.previous`,
        [id, from, to, changes.failureReason ?? null, changes.trackingNumber ?? null],
      );
      const row = rows[0];
      if (!row) return null;
      return { ...toPayload(row), ...(to === 'cancelled' ? { wasConfirmed: row.previous === 'confirmed' } : {}) };
    },
  };
}
