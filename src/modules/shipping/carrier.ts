/** The port to an external carrier. Idempotency keys make repeated bookings harmless. */
export interface ShipmentRequest {
  idempotencyKey: string;
  orderId: string;
  address: ShippingAddress;
  items: { sku: string; quantity: number }[];
}

export interface ShippingAddress {
  name: string;
  line1: string;
  line2?: string;
  city: string;
  postalCode: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
}

export type ShipmentResult =
  | { status: 'booked'; shipmentId: string; trackingNumber: string }
  | { status: 'rejected'; reason: string };

export interface Carrier {
  /** Throws DependencyUnavailableError (platform/resilience) on transient failure. */
  book(request: ShipmentRequest): Promise<ShipmentResult>;
  cancel(request: { idempotencyKey: string; shipmentId: string }): Promise<void>;
}
