import { randomUUID } from 'node:crypto';
import { DependencyUnavailableError } from '../../platform/resilience/dependency-error.ts';
import type { Carrier, ShipmentRequest, ShipmentResult } from './carrier.ts';

export interface SimulatedCarrierOptions {
  reject?: (request: ShipmentRequest) => boolean;
  failRate?: number;
  latencyMs?: number;
  random?: () => number;
}

/** An in-process carrier for the monolith's default and the tests. */
export function createSimulatedCarrier(options: SimulatedCarrierOptions = {}): Carrier & { cancelled(): string[] } {
  const random = options.random ?? Math.random;
  const byKey = new Map<string, ShipmentResult>();
  const cancelled = new Set<string>();
  const call = async () => {
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    if (options.failRate && random() < options.failRate) throw new DependencyUnavailableError('carrier', 'simulated outage');
  };
  return {
    async book(request) {
      await call();
      const earlier = byKey.get(request.idempotencyKey);
      if (earlier) return earlier;
      const result: ShipmentResult = options.reject?.(request)
        ? { status: 'rejected', reason: 'address_not_served' }
        : { status: 'booked', shipmentId: `sh_${randomUUID()}`, trackingNumber: `TRK${Math.floor(random() * 1e10).toString().padStart(10, '0')}` };
      byKey.set(request.idempotencyKey, result);
      return result;
    },
    async cancel(request) {
      await call();
      cancelled.add(request.shipmentId);
    },
    cancelled: () => [...cancelled],
  };
}
