import { DependencyUnavailableError } from '../../platform/resilience/dependency-error.ts';
import type { Warehouse, WarehouseRequest } from './warehouse.ts';

export interface SimulatedWarehouseOptions {
  /** Fraction of calls that fail transiently, before anything is recorded. Default 0. */
  failRate?: number;
  /** Delay before every answer. Default 0. */
  latencyMs?: number;
  /** Source of the rate's draws; inject a seeded one to repeat a run. Default Math.random. */
  random?: () => number;
}

export interface SimulatedWarehouse extends Warehouse {
  /** What it was asked to pick, once per idempotency key. */
  received(): WarehouseRequest[];
}

/** An in-process warehouse for the monolith's default and the tests. */
export function createSimulatedWarehouse(options: SimulatedWarehouseOptions = {}): SimulatedWarehouse {
  const random = options.random ?? Math.random;
  const received = new Map<string, WarehouseRequest>();
  return {
    async submit(request) {
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      if (options.failRate && random() < options.failRate) throw new DependencyUnavailableError('warehouse', 'simulated outage');
      if (!received.has(request.idempotencyKey)) received.set(request.idempotencyKey, request);
    },
    received: () => [...received.values()],
  };
}
