import { createHttpDependency, type HttpDependencyOptions } from '../../platform/resilience/http-dependency.ts';
import type { CircuitStateName } from '../../platform/resilience/policy.ts';
import type { Warehouse } from './warehouse.ts';

export interface HttpWarehouse extends Warehouse {
  circuitState(): CircuitStateName;
  /** Closes the connection pool the adapter owns (not a shared dispatcher). */
  close(): Promise<void>;
}

/** The warehouse's HTTP API: POST /warehouse/orders → 202, once per idempotency key. */
export function createHttpWarehouse(options: HttpDependencyOptions): HttpWarehouse {
  const http = createHttpDependency('warehouse', options);
  return {
    async submit({ idempotencyKey, orderId, items }) {
      await http.call({ method: 'POST', path: '/warehouse/orders', idempotencyKey, body: { orderId, items }, answers: [200, 202] });
    },
    circuitState: http.circuitState,
    close: http.close,
  };
}
