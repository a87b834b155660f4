import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, bearer, sampleMetric, settleEvents, startTestMonolith, type TestMonolith } from '../support/monolith.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.ts';
import { REDIS_URL } from '../support/redis.ts';

describe('stampede protection', () => {
  let m: TestMonolith;
  beforeAll(async () => {
    m = await startTestMonolith();
  });
  afterAll(() => m.dispose());

  it('loads an uncached product once for 1 000 concurrent requests', async () => {
    const admin = bearer(await adminToken(m));
    const { id } = (await m.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload: { sku: 'STAMPEDE-1', name: 'Hot', category: 'Test', price: 100, stock: 3 } })).json<{ id: string }>();
    // Creating the product dropped its page from the cache: the next read is a miss. (Loads are
    // counted by the cache, not as database statements: the event consumers poll the database.)
    await settleEvents([m]);
    const before = await sampleMetric(m, 'scalemart_cache_loads_total');
    const responses = await Promise.all(Array.from({ length: 1_000 }, () => m.app.inject({ url: `/api/v1/products/${id}` })));
    expect(responses.every((r) => r.statusCode === 200 && r.json().id === id)).toBe(true);
    // One load: the product page (its stock level is in the cache already, written through by the create).
    expect(await sampleMetric(m, 'scalemart_cache_loads_total') - before).toBe(1);
  });
});

describe('stampede protection across instances', () => {
  let database: ScratchDatabase;
  let instances: TestMonolith[];
  beforeAll(async () => {
    database = await createScratchDatabase();
    const env = { DATABASE_URL: database.url, CACHE_MODE: 'l1l2', REDIS_URL };
    instances = [await startTestMonolith(env), await startTestMonolith(env), await startTestMonolith(env)];
  });
  afterAll(async () => {
    for (const instance of instances ?? []) await instance.dispose();
    await database?.drop();
  });

  /** Loader runs so far, summed over every instance. */
  async function loads(): Promise<number> {
    let total = 0;
    for (const instance of instances) total += await sampleMetric(instance, 'scalemart_cache_loads_total');
    return total;
  }

  it('loads an uncached product once in the whole fleet when three instances are asked at once', async () => {
    const [a] = instances;
    const admin = bearer(await adminToken(a!));
    const created = await a!.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload: { sku: `FLEET-${Date.now()}`, name: 'Hot', category: 'Test', price: 100, stock: 3 } });
    const { id } = created.json<{ id: string }>();
    // The new product's events drop its page from the cache on whichever instance handles them: let
    // them land first, or on a loaded machine they land among the reads and each instance loads again.
    await settleEvents(instances);
    const before = await loads();
    const responses = await Promise.all(instances.flatMap((instance) => Array.from({ length: 300 }, () => instance.app.inject({ url: `/api/v1/products/${id}` }))));
    expect(responses.every((r) => r.statusCode === 200 && r.json().id === id)).toBe(true);
    // The product page, once, on one instance (its stock level was written through by the create).
    expect(await loads() - before).toBe(1);
  });
});
