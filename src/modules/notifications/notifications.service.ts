import type { Database, Queryable } from '../../platform/db/database.ts';
import type { EventOf } from '../../platform/events/catalogue.ts';
import type { ConsumerOptions } from '../../platform/events/consumer.ts';
import { OrderEvents, type OrderEventCatalogue, type OrderEventPayload } from '../orders/contract.ts';

/** The order events notifications react to. */
export type SettledOrderEvent = EventOf<OrderEventCatalogue, typeof OrderEvents.confirmed | typeof OrderEvents.failed>;
import type { NotificationsApi } from './contract.ts';
import { renderInvoice } from './invoice.renderer.ts';
import type { Mailer } from './mailer.ts';
import type { Warehouse } from './warehouse.ts';

export interface NotificationsDeps {
  db: Database;
  mailer: Mailer;
  warehouse: Warehouse;
  /** Lab knob: holds the invoice step this long, standing in for a slow renderer. */
  invoiceHoldMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The slow work after an order settles, each job its own durable consumer so one slow or failing
 * job (email down) neither delays nor repeats the others.
 */
export function createNotifications(deps: NotificationsDeps) {
  const { db } = deps;

  async function issueInvoice(order: OrderEventPayload, q: Queryable = db): Promise<void> {
    const issued = await q.query('select 1 from notifications.invoices where order_id = $1', [order.orderId]);
    if (issued.rows.length > 0) return;
    if (deps.invoiceHoldMs) await sleep(deps.invoiceHoldMs);
    const pdf = await renderInvoice(order);
    await q.query('insert into notifications.invoices (order_id, pdf) values ($1, $2) on conflict do nothing', [order.orderId, pdf]);
  }

  async function sendEmail(type: string, order: OrderEventPayload): Promise<void> {
    const kind = type.split('.').at(-1)!;
    const sent = await db.query('select 1 from notifications.emails where order_id = $1 and kind = $2', [order.orderId, kind]);
    if (sent.rows.length > 0) return;
    const subject = kind === 'confirmed' ? `Your order ${order.orderId} is confirmed` : `We could not complete your order ${order.orderId}`;
    const text = kind === 'confirmed'
      ? `Hello ${order.customerName},\n\nthank you for your order. Total: ${(order.total / 100).toFixed(2)} ${order.currency}.\n${order.trackingNumber ? `Tracking number: ${order.trackingNumber}\n` : ''}Your invoice: /api/v1/orders/${order.orderId}/invoice\n`
      : `Hello ${order.customerName},\n\nyour order could not be completed (${order.failureReason ?? 'unknown reason'}). You have not been charged.\n`;
    await deps.mailer.send({ to: order.customerEmail, subject, text, name: `${order.orderId}-${kind}` });
    // Recorded after sending: a crash in between sends the email again (at least once, never lost).
    await db.query('insert into notifications.emails (order_id, kind, recipient) values ($1, $2, $3) on conflict do nothing', [order.orderId, kind, order.customerEmail]);
  }

  const submitToWarehouse = (order: OrderEventPayload) =>
    deps.warehouse.submit({ idempotencyKey: `${order.orderId}:warehouse`, orderId: order.orderId, items: order.items.map((i) => ({ sku: i.sku, quantity: i.quantity })) });

  const consumers: ConsumerOptions<SettledOrderEvent>[] = [
    { name: 'notifications.invoice', types: [OrderEvents.confirmed], handle: (event) => issueInvoice(event.payload) },
    { name: 'notifications.email', types: [OrderEvents.confirmed, OrderEvents.failed], handle: (event) => sendEmail(event.type, event.payload) },
    { name: 'notifications.warehouse', types: [OrderEvents.confirmed], handle: (event) => submitToWarehouse(event.payload) },
  ];

  const api: NotificationsApi = {
    async invoice(orderId) {
      const { rows } = await db.query<{ pdf: Uint8Array }>('select pdf from notifications.invoices where order_id = $1', [orderId]);
      return rows[0]?.pdf ?? null;
    },
    async processNow(type, payload) {
      if (type === OrderEvents.confirmed) {
        await issueInvoice(payload);
        await submitToWarehouse(payload);
      }
      if (type === OrderEvents.confirmed || type === OrderEvents.failed) await sendEmail(type, payload);
    },
  };
  return { api, consumers };
}
