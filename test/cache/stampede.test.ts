import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, bearer, startTestMonolith, type TestMonolith } from '../support/monolith.ts';

describe('stampede protection', () => {
  let m: TestMonolith;
  beforeAll(async () => {
    m = await startTestMonolith();
  });
  afterAll(() => m.dispose());

  it('loads an uncached product once for 1 000 concurrent requests', async () => {
    const admin = bearer(await adminToken(m));
    const { id } = (await m.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload: { sku: 'STAMPEDE-1', name: 'Hot', category: 'Test', price: 100, stock: 3 } })).json<{ id: string }>();
    // Creating the product dropped its page from the cache: the next read is a miss.
    const before = m.db.stats().queries;
    const responses = await Promise.all(Array.from({ length: 1_000 }, () => m.app.inject({ url: `/api/v1/products/${id}` })));
    expect(responses.every((r) => r.statusCode === 200 && r.json().id === id)).toBe(true);
    // One load: the product row (its stock level is in the cache already, written through by the create).
    expect(m.db.stats().queries - before).toBe(1);
  });
});
