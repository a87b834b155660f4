import type { Database } from '../../platform/db/database.ts';
import type { PaymentsApi } from './contract.ts';
import type { PaymentProvider } from './provider.ts';

interface PaymentRow {
  order_id: string;
  idempotency_key: string;
  amount: number;
  status: 'pending' | 'charged' | 'declined' | 'refunded';
  charge_id: string | null;
}

/**
 * Records every charge before asking the provider and the answer after, so a refund knows what
 * to undo even when the process died between the two.
 */
export function createPaymentsService(db: Database, provider: PaymentProvider): PaymentsApi {
  return {
    async charge(request) {
      await db.query(
        `insert into payments.payments (order_id, idempotency_key, amount, currency, status) values ($1, $2, $3, $4, 'pending')
         on conflict (order_id) do nothing`,
        [request.orderId, request.idempotencyKey, request.amount, request.currency],
      );
      const result = await provider.charge(request);
      if (result.status === 'succeeded') {
        await db.query(`update payments.payments set status = 'charged', charge_id = $2, updated_at = now() where order_id = $1 and status = 'pending'`, [request.orderId, result.chargeId]);
        return { ok: true, chargeId: result.chargeId };
      }
      await db.query(`update payments.payments set status = 'declined', updated_at = now() where order_id = $1 and status = 'pending'`, [request.orderId]);
      return { ok: false, reason: 'PAYMENT_DECLINED', detail: result.reason };
    },

    async refund(orderId) {
      const { rows } = await db.query<PaymentRow>('select order_id, idempotency_key, amount, status, charge_id from payments.payments where order_id = $1', [orderId]);
      const payment = rows[0];
      if (!payment || payment.status === 'declined' || payment.status === 'refunded') return;
      let chargeId = payment.charge_id;
      if (payment.status === 'pending') {
        // The charge's answer was lost: ask the provider what happened under this key.
        chargeId = (await provider.findCharge(payment.idempotency_key))?.chargeId ?? null;
        if (!chargeId) {
          await db.query(`update payments.payments set status = 'declined', updated_at = now() where order_id = $1 and status = 'pending'`, [orderId]);
          return;
        }
      }
      const { refundId } = await provider.refund({ idempotencyKey: `${payment.idempotency_key}:refund`, chargeId: chargeId!, amount: payment.amount });
      await db.query(`update payments.payments set status = 'refunded', charge_id = $2, refund_id = $3, updated_at = now() where order_id = $1`, [orderId, chargeId, refundId]);
    },
  };
}
