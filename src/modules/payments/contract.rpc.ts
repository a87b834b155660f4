import { Type } from 'typebox';
import { defineContract, method } from '../../platform/rpc/index.ts';
import type { PaymentsApi } from './contract.ts';

const ChargeOrder = Type.Object({ orderId: Type.String(), customerId: Type.String(), amount: Type.Integer({ minimum: 0 }), currency: Type.String(), idempotencyKey: Type.String() });
const ChargeOutcome = Type.Union([
  Type.Object({ ok: Type.Literal(true), chargeId: Type.String() }),
  Type.Object({ ok: Type.Literal(false), reason: Type.Literal('PAYMENT_DECLINED'), detail: Type.String() }),
]);

/** The payments contract on the wire; its caller is the order saga. A charge is keyed by its idempotency key. */
export const paymentsContract = defineContract<PaymentsApi>()('payments', {
  charge: method({ input: Type.Tuple([ChargeOrder]), output: ChargeOutcome, idempotent: true }),
  refund: method({ input: Type.Tuple([Type.String()]), output: Type.Void(), idempotent: true }),
});
