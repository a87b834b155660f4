import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProviderSimulator, type ProviderSimulator } from '../../../lab/simulators/providers.ts';
import { DependencyUnavailableError } from '../../platform/resilience/dependency-error.ts';
import type { DependencyPolicyOptions } from '../../platform/resilience/policy.ts';
import { createHttpPaymentProvider, type HttpPaymentProvider } from './http-payment-provider.ts';

let sim: ProviderSimulator;
const open: HttpPaymentProvider[] = [];
// Generous timeout for calls meant to succeed (a loaded machine must not fail them); the hang
// tests shorten it, since a hung call times out whatever the machine does.
const provider = (policy: DependencyPolicyOptions = {}) => {
  const adapter = createHttpPaymentProvider({ baseUrl: sim.url, policy: { initialDelayMs: 1, maxDelayMs: 5, ...policy } });
  open.push(adapter);
  return adapter;
};
const request = (key: string, amount = 1250) => ({ idempotencyKey: key, orderId: `order-${key}`, customerId: 'c-1', amount, currency: 'EUR' });

beforeAll(async () => void (sim = await createProviderSimulator()));
afterAll(() => sim.close());
beforeEach(() => {
  sim.clearLog();
  sim.setKnobs({ payments: { latencyMs: 0, errorRate: 0, hangRate: 0, declineRate: 0 } });
});
afterEach(async () => void (await Promise.all(open.splice(0).map((a) => a.close()))));

describe('createHttpPaymentProvider', () => {
  it('charges, finds the charge by its key, and refunds it', async () => {
    const payments = provider();
    const result = await payments.charge(request('ok'));
    expect(result).toEqual({ status: 'succeeded', chargeId: expect.stringMatching(/^ch_/) });
    const chargeId = (result as { chargeId: string }).chargeId;
    expect(await payments.findCharge('ok')).toEqual({ chargeId });
    expect(await payments.findCharge('never-used')).toBeNull();
    expect(await payments.refund({ idempotencyKey: 'ok:refund', chargeId, amount: 1250 })).toEqual({ refundId: expect.stringMatching(/^re_/) });
    expect(sim.log()).toMatchObject({ charges: [{ id: chargeId, orderId: 'order-ok', amount: 1250 }], refunds: [{ chargeId, amount: 1250 }] });
  });

  it('returns a decline as a value, not an error', async () => {
    sim.setKnobs({ payments: { declineRate: 1 } });
    expect(await provider().charge(request('declined'))).toEqual({ status: 'declined', reason: 'card_declined' });
    expect(sim.log().charges).toEqual([]);
  });

  it('retries a 503 and then gives up with DependencyUnavailableError, charging nothing', async () => {
    sim.setKnobs({ payments: { errorRate: 1 } });
    const error = await provider({ attempts: 3 }).charge(request('down')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toMatch(/gave up after 3 attempts.*answered 503/);
    expect(sim.log().requests.payments).toBe(3);
    expect(sim.log().charges).toEqual([]);
  });

  it('times out a hung call, and a retry under the same key is charged once', async () => {
    sim.setKnobs({ payments: { hangRate: 1 } });
    const hung = provider({ attempts: 2, timeoutMs: 50 });
    const error = await hung.charge(request('lost')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(((error as Error).cause as Error).message).toMatch(/no answer within 50 ms/);
    // The client gives up on its clock, the simulator works on its own: wait for it to catch up.
    await vi.waitFor(() => expect(sim.log().requests.payments).toBe(2));

    // The provider charged before hanging: the answer was lost, not the charge.
    await vi.waitFor(() => expect(sim.log().charges).toHaveLength(1));
    sim.setKnobs({ payments: { hangRate: 0 } });
    const [charged] = sim.log().charges;
    expect(await provider().charge(request('lost'))).toEqual({ status: 'succeeded', chargeId: charged!.id });
    expect(await provider().findCharge('lost')).toEqual({ chargeId: charged!.id });
    expect(sim.log().charges).toHaveLength(1);
  });

  it('fails fast once the circuit opens', async () => {
    sim.setKnobs({ payments: { errorRate: 1 } });
    const payments = provider({ attempts: 1, breakAfter: 2 });
    for (const key of ['a', 'b']) await expect(payments.charge(request(key))).rejects.toThrow(DependencyUnavailableError);
    expect(payments.circuitState()).toBe('open');
    await expect(payments.charge(request('c'))).rejects.toThrow(/circuit open/);
    expect(sim.log().requests.payments).toBe(2);
  });

  it('reports a connection refused as DependencyUnavailableError', async () => {
    const closed = await createProviderSimulator();
    await closed.close();
    const payments = createHttpPaymentProvider({ baseUrl: closed.url, policy: { attempts: 2, initialDelayMs: 1 } });
    await expect(payments.charge(request('refused'))).rejects.toThrow(DependencyUnavailableError);
    await payments.close();
  });

  it('does not retry an answer it cannot use', async () => {
    const payments = provider();
    const error = await payments.refund({ idempotencyKey: 'r-unknown', chargeId: 'ch_missing', amount: 1 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'UnexpectedAnswerError', status: 404 });
    expect(sim.log().requests.payments).toBe(1);
  });
});
