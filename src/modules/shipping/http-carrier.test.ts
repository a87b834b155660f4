import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProviderSimulator, type ProviderSimulator } from '../../../lab/simulators/providers.ts';
import { DependencyUnavailableError } from '../../platform/resilience/dependency-error.ts';
import type { DependencyPolicyOptions } from '../../platform/resilience/policy.ts';
import type { ShipmentRequest } from './carrier.ts';
import { createHttpCarrier, type HttpCarrier } from './http-carrier.ts';

let sim: ProviderSimulator;
const open: HttpCarrier[] = [];
// Only the hang tests shorten the timeout: a call meant to succeed must not fail on a busy machine.
const carrier = (policy: DependencyPolicyOptions = {}) => {
  const adapter = createHttpCarrier({ baseUrl: sim.url, policy: { initialDelayMs: 1, maxDelayMs: 5, ...policy } });
  open.push(adapter);
  return adapter;
};
const address = { name: 'Ada Lovelace', line1: '12 Engine Street', city: 'London', postalCode: 'N1 9GU', country: 'GB' };
const shipment = (key: string): ShipmentRequest => ({ idempotencyKey: key, orderId: `order-${key}`, address, items: [{ sku: 'SKU-1', quantity: 2 }] });

beforeAll(async () => void (sim = await createProviderSimulator()));
afterAll(() => sim.close());
beforeEach(() => {
  sim.clearLog();
  sim.setKnobs({ carrier: { latencyMs: 0, errorRate: 0, hangRate: 0, rejectRate: 0 } });
});
afterEach(async () => void (await Promise.all(open.splice(0).map((a) => a.close()))));

describe('createHttpCarrier', () => {
  it('books a shipment once per key and cancels it', async () => {
    const result = await carrier().book(shipment('s1'));
    expect(result).toEqual({ status: 'booked', shipmentId: expect.stringMatching(/^sh_/), trackingNumber: expect.stringMatching(/^TRK/) });
    expect(await carrier().book(shipment('s1'))).toEqual(result);
    const { shipmentId } = result as { shipmentId: string };
    await carrier().cancel({ idempotencyKey: 's1:cancel', shipmentId });
    expect(sim.log()).toMatchObject({
      shipments: [{ id: shipmentId, orderId: 'order-s1', items: [{ sku: 'SKU-1', quantity: 2 }] }],
      cancellations: [{ shipmentId, idempotencyKey: 's1:cancel' }],
    });
  });

  it('returns a rejection as a value', async () => {
    sim.setKnobs({ carrier: { rejectRate: 1 } });
    expect(await carrier().book(shipment('s2'))).toEqual({ status: 'rejected', reason: 'address_not_served' });
    expect(sim.log().shipments).toEqual([]);
  });

  it('retries a 503 and then gives up with DependencyUnavailableError', async () => {
    sim.setKnobs({ carrier: { errorRate: 1 } });
    await expect(carrier({ attempts: 3 }).book(shipment('s3'))).rejects.toThrow(DependencyUnavailableError);
    expect(sim.log().requests.carrier).toBe(3);
  });

  it('times out a hung booking; the retry under the same key books once', async () => {
    sim.setKnobs({ carrier: { hangRate: 1 } });
    const error = await carrier({ attempts: 2, timeoutMs: 50 }).book(shipment('s4')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    await vi.waitFor(() => expect(sim.log().requests.carrier).toBe(2));
    sim.setKnobs({ carrier: { hangRate: 0 } });
    const booked = await carrier().book(shipment('s4'));
    expect(sim.log().shipments).toEqual([expect.objectContaining({ id: (booked as { shipmentId: string }).shipmentId })]);
  });
});
