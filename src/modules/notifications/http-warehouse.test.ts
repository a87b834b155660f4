import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProviderSimulator, type ProviderSimulator } from '../../../lab/simulators/providers.ts';
import { DependencyUnavailableError } from '../../platform/resilience/dependency-error.ts';
import type { DependencyPolicyOptions } from '../../platform/resilience/policy.ts';
import { createHttpWarehouse, type HttpWarehouse } from './http-warehouse.ts';

let sim: ProviderSimulator;
const open: HttpWarehouse[] = [];
// Only the hang test shortens the timeout: a call meant to succeed must not fail on a busy machine.
const warehouse = (policy: DependencyPolicyOptions = {}) => {
  const adapter = createHttpWarehouse({ baseUrl: sim.url, policy: { initialDelayMs: 1, maxDelayMs: 5, ...policy } });
  open.push(adapter);
  return adapter;
};
const order = (key: string) => ({ idempotencyKey: key, orderId: `order-${key}`, items: [{ sku: 'SKU-1', quantity: 1 }] });

beforeAll(async () => void (sim = await createProviderSimulator()));
afterAll(() => sim.close());
beforeEach(() => {
  sim.clearLog();
  sim.setKnobs({ warehouse: { latencyMs: 0, errorRate: 0, hangRate: 0 } });
});
afterEach(async () => void (await Promise.all(open.splice(0).map((a) => a.close()))));

describe('createHttpWarehouse', () => {
  it('submits an order once per idempotency key', async () => {
    await warehouse().submit(order('w1'));
    await warehouse().submit(order('w1'));
    expect(sim.log().warehouse).toEqual([expect.objectContaining({ idempotencyKey: 'w1', orderId: 'order-w1' })]);
  });

  it('retries a 503 and then gives up with DependencyUnavailableError', async () => {
    sim.setKnobs({ warehouse: { errorRate: 1 } });
    await expect(warehouse({ attempts: 2 }).submit(order('w2'))).rejects.toThrow(DependencyUnavailableError);
    expect(sim.log().requests.warehouse).toBe(2);
    expect(sim.log().warehouse).toEqual([]);
  });

  it('times out a hung call', async () => {
    sim.setKnobs({ warehouse: { hangRate: 1 } });
    await expect(warehouse({ attempts: 1, timeoutMs: 50 }).submit(order('w3'))).rejects.toThrow(/no answer within 50 ms/);
    await vi.waitFor(() => expect(sim.log().warehouse).toHaveLength(1));
  });
});
