import { randomUUID } from 'node:crypto';
import { DependencyUnavailableError } from '../../platform/resilience/dependency-error.ts';
import type { ChargeRequest, ChargeResult, PaymentProvider } from './provider.ts';

export interface SimulatedPaymentOptions {
  /** Decides declines per request, before `declineRate` is drawn; default: none. */
  decline?: (request: ChargeRequest) => boolean;
  /** Fraction of new charges declined at random. Default 0. */
  declineRate?: number;
  /** Fraction of calls that fail transiently, before anything is charged. Default 0. */
  failRate?: number;
  /** Delay before every answer. Default 0. */
  latencyMs?: number;
  /** Source of the rates' draws; inject a seeded one to repeat a run. Default Math.random. */
  random?: () => number;
}

export interface SimulatedCharge { chargeId: string; idempotencyKey: string; orderId: string; amount: number }
export interface SimulatedRefund { refundId: string; idempotencyKey: string; chargeId: string; amount: number }

export interface SimulatedPaymentProvider extends PaymentProvider {
  /** Every charge made, at most one per idempotency key. */
  charges(): SimulatedCharge[];
  /** Every refund made, at most one per idempotency key. */
  refunds(): SimulatedRefund[];
}

/**
 * An in-process payment provider for the monolith's default and the tests. With every rate at 0
 * it draws no random numbers, so outcomes depend only on `decline`.
 */
export function createSimulatedPaymentProvider(options: SimulatedPaymentOptions = {}): SimulatedPaymentProvider {
  const random = options.random ?? Math.random;
  const byKey = new Map<string, ChargeResult>();
  const charges: SimulatedCharge[] = [];
  const refunds = new Map<string, SimulatedRefund>();
  const chance = (rate: number | undefined) => !!rate && random() < rate;
  const call = async () => {
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    if (chance(options.failRate)) throw new DependencyUnavailableError('payments', 'simulated outage');
  };
  return {
    async charge(request) {
      await call();
      const earlier = byKey.get(request.idempotencyKey);
      if (earlier) return earlier;
      const result: ChargeResult = options.decline?.(request) || chance(options.declineRate)
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
