import type { OrderEventPayload } from '../orders/contract.ts';

export interface NotificationsApi {
  /** The invoice PDF of an order, once issued. */
  invoice(orderId: string): Promise<Uint8Array | null>;
  /** Does all of an order event's slow work now (the lab's synchronous switch). */
  processNow(type: string, payload: OrderEventPayload): Promise<void>;
}
