import { randomUUID } from 'node:crypto';
import { DependencyUnavailableError } from '../../platform/resilience/dependency-error.ts';
import type { ChargeRequest, ChargeResult, PaymentProvider } from './provider.ts';

export interface SimulatedPaymentOptions {
  /** Decides declines per request; default: none. */
  decline?: (request: ChargeRequest) => boolean;
  /** Fraction of calls that fail transiently (before charging). */
  failRate?: number;
  latencyMs?: number;
  random?: () => number;
}

export interface SimulatedPaymentProvider extends PaymentProvider {
  /** Every charge made, at most one per idempotency key. */
  charges(): { chargeId: string; idempotencyKey: string; orderId: string; amount: number }[];
  refunds(): { refundId: string; idempotencyKey: string; chargeId: string; amount: number }[];
}

/** An in-process payment provider for the monolith's default and the tests. */
export function createSimulatedPaymentProvider(options: SimulatedPaymentOptions = {}): SimulatedPaymentProvider {
  const random = options.random ?? Math.random;
  const byKey = new Map<string, ChargeResult>();
  const charges: ReturnType<SimulatedPaymentProvider['charges']> = [];
  const refunds = new Map<string, ReturnType<SimulatedPaymentProvider['refunds']>[number]>();
  const call = async () => {
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    if (options.failRate && random() < options.failRate) throw new DependencyUnavailableError('payments', 'simulated outage');
  };
  return {
    async charge(request) {
      await call();
      const earlier = byKey.get(request.idempotencyKey);
      if (earlier) return earlier;
      const result: ChargeResult = options.decline?.(request)
        ? { status: 'declined', reason: 'card_declined' }
        : { status: 'succeeded', chargeId: `ch_${randomUUID()}` };
      byKey.set(request.idempotencyKey, result);
      if (result.status === 'succeeded') charges.push({ chargeId: result.chargeId, idempotencyKey: request.idempotencyKey, orderId: request.orderId, amount: request.amount });
      return result;
    },
    async refund(request) {
      await call();
      const earlier = refunds.get(request.idempotencyKey);
      if (earlier) return { refundId: earlier.refundId };
      const refund = { refundId: `re_${randomUUID()}`, ...request };
      refunds.set(request.idempotencyKey, refund);
      return { refundId: refund.refundId };
    },
    async findCharge(idempotencyKey) {
      await call();
      const result = byKey.get(idempotencyKey);
      return result?.status === 'succeeded' ? { chargeId: result.chargeId } : null;
    },
    charges: () => [...charges],
    refunds: () => [...refunds.values()],
  };
}
