import { describe, expect, it } from 'vitest';
import { DependencyUnavailableError } from '../../platform/resilience/dependency-error.ts';
import { createSimulatedPaymentProvider } from './simulated-payment-provider.ts';

const request = (key: string, amount = 500) => ({ idempotencyKey: key, orderId: `o-${key}`, customerId: 'c', amount, currency: 'EUR' });
/** Replays the given draws in order, so each rate decision is chosen by the test. */
const draws = (...values: number[]) => () => values.shift() ?? 0.99;

describe('createSimulatedPaymentProvider', () => {
  it('charges at most once per idempotency key and finds the charge by key', async () => {
    const payments = createSimulatedPaymentProvider();
    const first = await payments.charge(request('a'));
    expect(await payments.charge(request('a'))).toEqual(first);
    expect(payments.charges()).toHaveLength(1);
    expect(await payments.findCharge('a')).toEqual({ chargeId: payments.charges()[0]!.chargeId });
    expect(await payments.findCharge('b')).toBeNull();
  });

  it('declines by predicate or by rate, and remembers the decline for the key', async () => {
    const payments = createSimulatedPaymentProvider({ decline: (r) => r.amount === 1313, declineRate: 0.5, random: draws(0.2, 0.7) });
    expect(await payments.charge(request('p', 1313))).toMatchObject({ status: 'declined' });
    expect(await payments.charge(request('r1'))).toMatchObject({ status: 'declined' }); // draw 0.2 < 0.5
    expect(await payments.charge(request('r2'))).toMatchObject({ status: 'succeeded' }); // draw 0.7
    expect(await payments.charge(request('r1'))).toMatchObject({ status: 'declined' }); // no new draw
    expect(payments.charges().map((c) => c.idempotencyKey)).toEqual(['r2']);
  });

  it('fails transiently by rate before charging anything', async () => {
    const payments = createSimulatedPaymentProvider({ failRate: 0.5, random: draws(0.1) });
    await expect(payments.charge(request('f'))).rejects.toThrow(DependencyUnavailableError);
    expect(payments.charges()).toEqual([]);
    expect(await payments.charge(request('f'))).toMatchObject({ status: 'succeeded' });
  });

  it('refunds once per idempotency key', async () => {
    const payments = createSimulatedPaymentProvider();
    const charged = await payments.charge(request('x'));
    const chargeId = (charged as { chargeId: string }).chargeId;
    const refund = await payments.refund({ idempotencyKey: 'x:refund', chargeId, amount: 500 });
    expect(await payments.refund({ idempotencyKey: 'x:refund', chargeId, amount: 500 })).toEqual(refund);
    expect(payments.refunds()).toEqual([{ refundId: refund.refundId, idempotencyKey: 'x:refund', chargeId, amount: 500 }]);
  });
});
