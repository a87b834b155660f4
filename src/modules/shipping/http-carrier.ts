import { createHttpDependency, stringField, type HttpDependencyOptions } from '../../platform/resilience/http-dependency.ts';
import type { CircuitStateName } from '../../platform/resilience/policy.ts';
import type { Carrier, ShipmentResult } from './carrier.ts';

export interface HttpCarrier extends Carrier {
  circuitState(): CircuitStateName;
  /** Closes the connection pool the adapter owns (not a shared dispatcher). */
  close(): Promise<void>;
}

const NAME = 'carrier';

/**
 * The carrier's HTTP API; idempotency keys make the policy's retries harmless.
 * - POST /carrier/shipments → 201 {id, trackingNumber} | 422 {status: 'rejected', reason}
 * - POST /carrier/shipments/:id/cancel → 200
 */
export function createHttpCarrier(options: HttpDependencyOptions): HttpCarrier {
  const http = createHttpDependency(NAME, options);
  return {
    async book({ idempotencyKey, orderId, address, items }): Promise<ShipmentResult> {
      const answer = await http.call({ method: 'POST', path: '/carrier/shipments', idempotencyKey, body: { orderId, address, items }, answers: [200, 201, 422] });
      if (answer.status === 422) return { status: 'rejected', reason: stringField(NAME, answer, 'reason') };
      return { status: 'booked', shipmentId: stringField(NAME, answer, 'id'), trackingNumber: stringField(NAME, answer, 'trackingNumber') };
    },
    async cancel({ idempotencyKey, shipmentId }) {
      await http.call({ method: 'POST', path: `/carrier/shipments/${encodeURIComponent(shipmentId)}/cancel`, idempotencyKey, answers: [200] });
    },
    circuitState: http.circuitState,
    close: http.close,
  };
}
