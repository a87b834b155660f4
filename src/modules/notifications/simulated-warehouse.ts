import type { Warehouse, WarehouseRequest } from './warehouse.ts';

/** An in-process warehouse that records what it was asked to pick, once per idempotency key. */
export function createSimulatedWarehouse(options: { latencyMs?: number } = {}): Warehouse & { received(): WarehouseRequest[] } {
  const received = new Map<string, WarehouseRequest>();
  return {
    async submit(request) {
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      if (!received.has(request.idempotencyKey)) received.set(request.idempotencyKey, request);
    },
    received: () => [...received.values()],
  };
}
