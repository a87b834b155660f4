import type { ShippingAddress } from './carrier.ts';

export type { ShippingAddress };

export interface BookShipment {
  orderId: string;
  address: ShippingAddress;
  items: { sku: string; quantity: number }[];
  idempotencyKey: string;
}

export type BookingOutcome = { ok: true; shipmentId: string; trackingNumber: string } | { ok: false; reason: 'SHIPPING_REJECTED'; detail: string };

export interface ShippingApi {
  /** A definite answer, or DependencyUnavailableError when the carrier cannot say. */
  book(request: BookShipment): Promise<BookingOutcome>;
  /** Cancels the order's shipment if one was booked. Idempotent. */
  cancel(orderId: string): Promise<void>;
}
