import { randomUUID } from 'node:crypto';
import type { ServiceName } from './knobs.ts';

/** An HTTP answer the simulator gives, and gives again for a repeated idempotency key. */
export interface Answer {
  status: number;
  body: unknown;
}

interface Entry { id: string; idempotencyKey: string; at: string }
export interface ChargeEntry extends Entry { orderId: string; customerId: string; amount: number; currency: string }
export interface DeclineEntry { idempotencyKey: string; orderId: string; amount: number; at: string }
export interface RefundEntry extends Entry { chargeId: string; amount: number }
export interface ShipmentEntry extends Entry { orderId: string; trackingNumber: string; address: unknown; items: unknown }
export interface RejectionEntry { idempotencyKey: string; orderId: string; at: string }
export interface CancellationEntry { idempotencyKey: string; shipmentId: string; at: string }
export interface WarehouseEntry { idempotencyKey: string; orderId: string; items: unknown; at: string }
export interface EmailEntry extends Entry { to: string; subject: string; bytes: number }

/** What the simulated systems did, in order: the evidence a crash test checks. */
export interface SimulatorLog {
  charges: ChargeEntry[];
  /** Declined charge attempts (nothing was charged). */
  declines: DeclineEntry[];
  refunds: RefundEntry[];
  shipments: ShipmentEntry[];
  /** Rejected bookings (nothing was booked). */
  rejections: RejectionEntry[];
  cancellations: CancellationEntry[];
  warehouse: WarehouseEntry[];
  emails: EmailEntry[];
  /** Requests each service received, failed and repeated ones included: what retries cost it. */
  requests: Record<ServiceName, number>;
}

export interface ChargeBody { orderId: string; customerId: string; amount: number; currency: string }
export interface RefundBody { chargeId: string; amount: number }
export interface ShipmentBody { orderId: string; address: unknown; items: unknown }
export interface WarehouseBody { orderId: string; items: unknown }
export interface EmailMessage { to: string; subject: string; bytes: number }

const emptyLog = (): SimulatorLog => ({ charges: [], declines: [], refunds: [], shipments: [], rejections: [], cancellations: [], warehouse: [], emails: [], requests: { payments: 0, carrier: 0, warehouse: 0, email: 0 } });

/**
 * The fake systems' business behaviour, free of HTTP and knobs. Each call happens once per
 * idempotency key (the caller replays the stored answer for a repeat). Clearing the log forgets
 * the evidence, not the charges and shipments themselves: a refund of an earlier charge still works.
 */
export function createLedger() {
  let log = emptyLog();
  const charges = new Map<string, ChargeEntry>();
  const refunded = new Map<string, number>();
  const chargeByKey = new Map<string, string>();
  const shipments = new Map<string, { cancelled: boolean }>();
  const at = () => new Date().toISOString();

  return {
    log: (): SimulatorLog => structuredClone(log),
    clearLog: () => void (log = emptyLog()),
    received: (service: ServiceName) => void log.requests[service]++,

    charge(idempotencyKey: string, body: ChargeBody, declined: boolean): Answer {
      if (declined) {
        log.declines.push({ idempotencyKey, orderId: body.orderId, amount: body.amount, at: at() });
        return { status: 402, body: { status: 'declined', reason: 'card_declined' } };
      }
      const entry: ChargeEntry = { id: `ch_${randomUUID()}`, idempotencyKey, ...body, at: at() };
      charges.set(entry.id, entry);
      chargeByKey.set(idempotencyKey, entry.id);
      log.charges.push(entry);
      return { status: 201, body: { id: entry.id, status: 'succeeded' } };
    },

    /** How a client that lost a charge's answer learns whether it happened. */
    chargeByKey(idempotencyKey: string): Answer {
      const id = chargeByKey.get(idempotencyKey);
      return id ? { status: 200, body: { id, status: 'succeeded' } } : { status: 404, body: { error: 'no charge under this idempotency key' } };
    },

    refund(idempotencyKey: string, body: RefundBody): Answer {
      const charge = charges.get(body.chargeId);
      if (!charge) return { status: 404, body: { error: `unknown charge ${body.chargeId}` } };
      const already = refunded.get(charge.id) ?? 0;
      if (already + body.amount > charge.amount) {
        return { status: 400, body: { error: `refunds would exceed the charge (${already} + ${body.amount} > ${charge.amount})` } };
      }
      refunded.set(charge.id, already + body.amount);
      const entry: RefundEntry = { id: `re_${randomUUID()}`, idempotencyKey, chargeId: charge.id, amount: body.amount, at: at() };
      log.refunds.push(entry);
      return { status: 201, body: { id: entry.id } };
    },

    book(idempotencyKey: string, body: ShipmentBody, rejected: boolean): Answer {
      if (rejected) {
        log.rejections.push({ idempotencyKey, orderId: body.orderId, at: at() });
        return { status: 422, body: { status: 'rejected', reason: 'address_not_served' } };
      }
      const id = `sh_${randomUUID()}`;
      const trackingNumber = `TRK${id.slice(3, 15).toUpperCase()}`;
      shipments.set(id, { cancelled: false });
      log.shipments.push({ id, idempotencyKey, orderId: body.orderId, trackingNumber, address: body.address, items: body.items, at: at() });
      return { status: 201, body: { id, trackingNumber } };
    },

    /** Cancelling twice (under another key) answers 200 again and records nothing new. */
    cancel(idempotencyKey: string, shipmentId: string): Answer {
      const shipment = shipments.get(shipmentId);
      if (!shipment) return { status: 404, body: { error: `unknown shipment ${shipmentId}` } };
      if (!shipment.cancelled) log.cancellations.push({ idempotencyKey, shipmentId, at: at() });
      shipment.cancelled = true;
      return { status: 200, body: { id: shipmentId, status: 'cancelled' } };
    },

    submit(idempotencyKey: string, body: WarehouseBody): Answer {
      log.warehouse.push({ idempotencyKey, orderId: body.orderId, items: body.items, at: at() });
      return { status: 202, body: { status: 'accepted' } };
    },

    email(idempotencyKey: string, message: EmailMessage): Answer {
      const entry: EmailEntry = { id: `em_${randomUUID()}`, idempotencyKey, ...message, at: at() };
      log.emails.push(entry);
      return { status: 202, body: { id: entry.id } };
    },
  };
}

export type Ledger = ReturnType<typeof createLedger>;
