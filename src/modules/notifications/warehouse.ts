/** The port to the warehouse system that picks and packs confirmed orders. */
export interface WarehouseRequest {
  idempotencyKey: string;
  orderId: string;
  items: { sku: string; quantity: number }[];
}

export interface Warehouse {
  /** Throws on failure; the caller retries. Repeating an idempotency key is harmless. */
  submit(request: WarehouseRequest): Promise<void>;
}
