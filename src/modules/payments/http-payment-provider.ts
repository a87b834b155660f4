import { createHttpDependency, stringField, type HttpDependencyOptions } from '../../platform/resilience/http-dependency.ts';
import type { CircuitStateName } from '../../platform/resilience/policy.ts';
import type { ChargeResult, PaymentProvider } from './provider.ts';

export interface HttpPaymentProvider extends PaymentProvider {
  circuitState(): CircuitStateName;
  /** Closes the connection pool the adapter owns (not a shared dispatcher). */
  close(): Promise<void>;
}

const NAME = 'payments';

/**
 * The payment provider's HTTP API. Every call carries its idempotency key, which is what makes
 * the policy's retries safe: a charge retried after a lost answer is not charged again.
 * - POST /payments/charges → 201 {id, status: 'succeeded'} | 402 {status: 'declined', reason}
 * - POST /payments/refunds → 201 {id}
 * - GET /payments/charges/by-key/:key → 200 {id, status} | 404 (no charge under that key)
 */
export function createHttpPaymentProvider(options: HttpDependencyOptions): HttpPaymentProvider {
  const http = createHttpDependency(NAME, options);
  return {
    async charge(request): Promise<ChargeResult> {
      const { idempotencyKey, orderId, customerId, amount, currency } = request;
      const answer = await http.call({
        method: 'POST', path: '/payments/charges', idempotencyKey, body: { orderId, customerId, amount, currency }, answers: [200, 201, 402],
      });
      if (answer.status === 402) return { status: 'declined', reason: stringField(NAME, answer, 'reason') };
      return { status: 'succeeded', chargeId: stringField(NAME, answer, 'id') };
    },
    async refund({ idempotencyKey, chargeId, amount }) {
      const answer = await http.call({ method: 'POST', path: '/payments/refunds', idempotencyKey, body: { chargeId, amount }, answers: [200, 201] });
      return { refundId: stringField(NAME, answer, 'id') };
    },
    async findCharge(idempotencyKey) {
      const answer = await http.call({ method: 'GET', path: `/payments/charges/by-key/${encodeURIComponent(idempotencyKey)}`, answers: [200, 404] });
      return answer.status === 200 ? { chargeId: stringField(NAME, answer, 'id') } : null;
    },
    circuitState: http.circuitState,
    close: http.close,
  };
}
