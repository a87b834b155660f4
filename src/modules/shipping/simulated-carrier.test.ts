import { describe, expect, it } from 'vitest';
import { DependencyUnavailableError } from '../../platform/resilience/dependency-error.ts';
import { createSimulatedCarrier } from './simulated-carrier.ts';

const address = { name: 'A', line1: '1 Main St', city: 'Lyon', postalCode: '69001', country: 'FR' };
const request = (key: string) => ({ idempotencyKey: key, orderId: `o-${key}`, address, items: [{ sku: 'S', quantity: 1 }] });
const draws = (...values: number[]) => () => values.shift() ?? 0.99;

describe('createSimulatedCarrier', () => {
  it('books once per key, rejects by rate, and records cancellations', async () => {
    const carrier = createSimulatedCarrier({ rejectRate: 0.5, random: draws(0.9, 0.1) });
    const booked = await carrier.book(request('a'));
    expect(booked).toMatchObject({ status: 'booked', trackingNumber: expect.stringMatching(/^TRK/) });
    expect(await carrier.book(request('a'))).toEqual(booked);
    expect(await carrier.book(request('b'))).toEqual({ status: 'rejected', reason: 'address_not_served' });
    const { shipmentId } = booked as { shipmentId: string };
    await carrier.cancel({ idempotencyKey: 'a:cancel', shipmentId });
    expect(carrier.shipments().map((s) => s.shipmentId)).toEqual([shipmentId]);
    expect(carrier.cancelled()).toEqual([shipmentId]);
  });

  it('fails transiently by rate before booking', async () => {
    const carrier = createSimulatedCarrier({ failRate: 1, random: draws(0.5) });
    await expect(carrier.book(request('c'))).rejects.toThrow(DependencyUnavailableError);
    expect(carrier.shipments()).toEqual([]);
  });
});
