import type { Database } from '../../platform/db/database.ts';
import { decodeCursor } from '../../platform/http/cursor.ts';
import type { FailureReason, OrderSummary } from './contract.ts';

/** A customer's orders from the history read model, newest first (ids are time-ordered). */
export async function listHistory(db: Database, customerId: string, cursor: string | undefined, limit: number): Promise<OrderSummary[]> {
  const { rows } = await db.query<{ order_id: string; status: 'pending' | 'confirmed' | 'failed' | 'cancelled'; total: number; currency: string; item_count: number; failure_reason: FailureReason | null; created_at: Date | string; updated_at: Date | string }>(
    `select * from orders.history where customer_id = $1 and ($2::text is null or order_id < $2) order by order_id desc limit $3`,
    [customerId, cursor === undefined ? null : decodeCursor(cursor), limit],
  );
  return rows.map((r) => ({
    id: r.order_id, status: r.status, total: r.total, currency: r.currency, itemCount: r.item_count,
    ...(r.failure_reason ? { failureReason: r.failure_reason } : {}),
    createdAt: new Date(r.created_at).toISOString(), updatedAt: new Date(r.updated_at).toISOString(),
  }));
}
