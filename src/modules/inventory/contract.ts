/** Stock of one SKU. `available` can be reserved; `reserved` is held for orders in flight. */
export interface StockLevel {
  sku: string;
  available: number;
  reserved: number;
  /** Rises on every change; feeds ETags. */
  version: number;
  updatedAt: string;
}

export type StockStatus = 'in_stock' | 'low_stock' | 'out_of_stock';

export interface StockLine {
  sku: string;
  quantity: number;
}

/** Reserving is all-or-nothing over the lines; a business refusal is a value, not an exception. */
export type ReserveResult =
  | { ok: true; reservationId: string }
  | { ok: false; reason: 'OUT_OF_STOCK' | 'UNKNOWN_SKU'; sku: string };

export interface InventoryApi {
  getStock(sku: string): Promise<StockLevel | null>;
  getStockMany(skus: readonly string[]): Promise<Map<string, StockLevel>>;
  /** Sets the available quantity (an admin's count); reserved units are left alone. */
  setStock(sku: string, available: number): Promise<StockLevel>;
  /**
   * Gives a new SKU its first stock and returns its level; a SKU that has stock keeps it (a sale
   * or a count since is never overwritten). Idempotent: how a created product's stock is set,
   * by the product's route and again by its event.
   */
  initStock(sku: string, available: number): Promise<StockLevel>;
  /**
   * Holds stock for an order. Never oversells, whatever the concurrency. Idempotent per
   * reservation id: once held, calling it again returns the same hold; a refusal holds nothing,
   * so a later call decides afresh.
   */
  reserve(reservationId: string, lines: readonly StockLine[]): Promise<ReserveResult>;
  /** Turns a reservation into a sale. Idempotent; false when nothing is reserved under the id. */
  commit(reservationId: string): Promise<boolean>;
  /** Gives reserved units back. Idempotent; false when nothing is reserved under the id. */
  release(reservationId: string): Promise<boolean>;
  /** Puts sold units back on the shelf (a confirmed order was cancelled). Idempotent; false when nothing was sold under the id. */
  returnStock(reservationId: string): Promise<boolean>;
  /**
   * Registers a listener told, after commit, which SKUs' stock changed: how other modules drop
   * cached views that include stock. In-process only; across processes the module publishes
   * `InventoryEvents.stockChanged` instead (when built with `publishChanges`).
   */
  onStockChanged(listener: (skus: readonly string[]) => Promise<void>): void;
  /** Bulk load for seeding: upserts stock levels in one statement per batch. */
  importStock(levels: readonly { sku: string; available: number }[]): Promise<void>;
}

/** Events the inventory publishes through its outbox (in a service process, for other processes' caches). */
export const InventoryEvents = {
  stockChanged: 'inventory.stock.changed',
} as const;

/**
 * The inventory's event catalogue: a SKU whose stock changed, and its stock version after the
 * change (a view that shows that version or a later one is not stale). The level itself is read
 * afresh, never carried.
 */
export type InventoryEventCatalogue = {
  [InventoryEvents.stockChanged]: { sku: string; version: number };
};

/** Below this many units a product shows `low_stock`. */
export const LOW_STOCK_THRESHOLD = 5;

export function stockStatus(available: number): StockStatus {
  if (available <= 0) return 'out_of_stock';
  return available <= LOW_STOCK_THRESHOLD ? 'low_stock' : 'in_stock';
}
