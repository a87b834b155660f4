import type { ShippingAddress } from '../shipping/contract.ts';

export const ORDER_STATUSES = ['pending', 'confirmed', 'failed', 'cancelled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** The order's lifecycle; the saga's outcome drives it, and the repository refuses any other move. */
export const ORDER_TRANSITIONS: Record<OrderStatus, readonly OrderStatus[]> = {
  pending: ['confirmed', 'failed', 'cancelled'],
  confirmed: ['cancelled'],
  failed: [],
  cancelled: [],
};

/** Why an order failed (a step's refusal, or a dependency that stayed down) or was cancelled. */
export const FAILURE_REASONS = [
  'OUT_OF_STOCK',
  'UNKNOWN_SKU',
  'PAYMENT_DECLINED',
  'PAYMENT_UNAVAILABLE',
  'SHIPPING_REJECTED',
  'SHIPPING_UNAVAILABLE',
  'INVENTORY_UNAVAILABLE',
  'CANCELLED',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export const isFailureReason = (reason: string): reason is FailureReason => (FAILURE_REASONS as readonly string[]).includes(reason);

export interface OrderLine {
  productId: string;
  sku: string;
  name: string;
  quantity: number;
  /** Integer minor units, as priced when the order was placed. */
  unitPrice: number;
}

export interface Order {
  id: string;
  customerId: string;
  status: OrderStatus;
  items: OrderLine[];
  total: number;
  currency: string;
  shippingAddress: ShippingAddress;
  failureReason?: FailureReason;
  trackingNumber?: string;
  createdAt: string;
  updatedAt: string;
}

/** Event types the orders module publishes, and their payloads. */
export const OrderEvents = {
  placed: 'orders.order.placed',
  confirmed: 'orders.order.confirmed',
  failed: 'orders.order.failed',
  cancelled: 'orders.order.cancelled',
} as const;

/** What every order event carries: enough for consumers (notifications, read models) to need no lookup. */
export interface OrderEventPayload
  extends Pick<Order, 'customerId' | 'status' | 'items' | 'total' | 'currency' | 'shippingAddress' | 'failureReason' | 'trackingNumber' | 'createdAt'> {
  orderId: string;
  customerEmail: string;
  customerName: string;
  /** Set on `cancelled`: whether the order had been confirmed (sold) before. */
  wasConfirmed?: boolean;
}

/** `orders.order.placed`: the order as stored, before the customer's details are looked up for notifications. */
export type OrderPlacedPayload = Pick<OrderEventPayload, 'orderId' | 'customerId' | 'status' | 'items' | 'total' | 'currency' | 'createdAt'>;

/** The orders module's event catalogue: what each event type carries. */
export type OrderEventCatalogue = {
  [OrderEvents.placed]: OrderPlacedPayload;
  [OrderEvents.confirmed]: OrderEventPayload;
  [OrderEvents.failed]: OrderEventPayload;
  [OrderEvents.cancelled]: OrderEventPayload;
};

export interface PlaceOrder {
  customerId: string;
  items: { productId: string; quantity: number }[];
  shippingAddress: ShippingAddress;
  idempotencyKey?: string;
}

/** An order as a history lists it (the read model): no lines, no address. */
export interface OrderSummary {
  id: string;
  status: OrderStatus;
  total: number;
  currency: string;
  itemCount: number;
  failureReason?: FailureReason;
  createdAt: string;
  updatedAt: string;
}

export interface OrdersApi {
  /** Stores a pending order and starts its saga; same key and body returns the first order. */
  place(request: PlaceOrder): Promise<{ order: Order; replayed: boolean }>;
  /** Null for a missing order and for another customer's alike. */
  get(customerId: string | null, orderId: string): Promise<Order | null>;
  cancel(customerId: string, orderId: string): Promise<Order>;
  /** The customer's latest orders, newest first, from the history read model (updated within moments of a change). */
  recentOrders(customerId: string, limit: number): Promise<OrderSummary[]>;
}

export const OrderErrorCodes = {
  unknownProduct: 'UNKNOWN_PRODUCT',
  mixedCurrencies: 'MIXED_CURRENCIES',
  idempotencyMismatch: 'IDEMPOTENCY_MISMATCH',
  notCancellable: 'ORDER_NOT_CANCELLABLE',
} as const;
