import { randomUUID } from 'node:crypto';
import { DependencyUnavailableError } from '../../platform/resilience/dependency-error.ts';
import type { Carrier, ShipmentRequest, ShipmentResult } from './carrier.ts';

export interface SimulatedCarrierOptions {
  /** Decides rejections per request, before `rejectRate` is drawn; default: none. */
  reject?: (request: ShipmentRequest) => boolean;
  /** Fraction of new bookings rejected at random. Default 0. */
  rejectRate?: number;
  /** Fraction of calls that fail transiently, before anything is booked. Default 0. */
  failRate?: number;
  /** Delay before every answer. Default 0. */
  latencyMs?: number;
  /** Source of the rates' draws; inject a seeded one to repeat a run. Default Math.random. */
  random?: () => number;
}

export interface SimulatedCarrier extends Carrier {
  /** Every booking made, at most one per idempotency key. */
  shipments(): (ShipmentRequest & { shipmentId: string; trackingNumber: string })[];
  /** Shipment ids cancelled, each once. */
  cancelled(): string[];
}

/**
 * An in-process carrier for the monolith's default and the tests. With every rate at 0 it draws
 * no random numbers, so outcomes depend only on `reject`.
 */
export function createSimulatedCarrier(options: SimulatedCarrierOptions = {}): SimulatedCarrier {
  const random = options.random ?? Math.random;
  const byKey = new Map<string, ShipmentResult>();
  const shipments: ReturnType<SimulatedCarrier['shipments']> = [];
  const cancelled = new Set<string>();
  const chance = (rate: number | undefined) => !!rate && random() < rate;
  const call = async () => {
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    if (chance(options.failRate)) throw new DependencyUnavailableError('carrier', 'simulated outage');
  };
  return {
    async book(request) {
      await call();
      const earlier = byKey.get(request.idempotencyKey);
      if (earlier) return earlier;
      let result: ShipmentResult;
      if (options.reject?.(request) || chance(options.rejectRate)) {
        result = { status: 'rejected', reason: 'address_not_served' };
      } else {
        const shipmentId = `sh_${randomUUID()}`;
        // Derived from the id rather than drawn, so a seeded `random` sees the same draws either way.
        result = { status: 'booked', shipmentId, trackingNumber: `TRK${shipmentId.slice(3, 15).toUpperCase()}` };
        shipments.push({ ...request, shipmentId, trackingNumber: result.trackingNumber });
      }
      byKey.set(request.idempotencyKey, result);
      return result;
    },
    async cancel(request) {
      await call();
      cancelled.add(request.shipmentId);
    },
    shipments: () => [...shipments],
    cancelled: () => [...cancelled],
  };
}
