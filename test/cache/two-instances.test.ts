import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, bearer, startTestMonolith, type TestMonolith } from '../support/monolith.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.ts';
import { REDIS_URL } from '../support/redis.ts';

/** Two Scalemart instances on one PostgreSQL and one Redis, as the scaled stage runs them. */
describe('L1 + Redis L2 across instances', () => {
  let database: ScratchDatabase;
  let a: TestMonolith;
  let b: TestMonolith;
  beforeAll(async () => {
    database = await createScratchDatabase();
    const env = { DATABASE_URL: database.url, CACHE_MODE: 'l1l2', REDIS_URL };
    a = await startTestMonolith(env);
    b = await startTestMonolith(env);
  });
  afterAll(async () => {
    await a?.dispose();
    await b?.dispose();
    await database?.drop();
  });

  it('serves a product changed through one instance fresh from the other', async () => {
    const admin = bearer(await adminToken(a));
    const sku = `TWO-${randomBytes(4).toString('hex')}`;
    const created = await a.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload: { sku, name: 'Shared', category: 'Test', price: 100, stock: 5 } });
    const url = `/api/v1/products/${created.json().id}`;
    expect((await b.app.inject({ url })).json().price).toBe(100); // B now holds it in its L1

    for (const price of [200, 300, 400]) {
      await a.app.inject({ method: 'PATCH', url, headers: admin, payload: { price } });
      const deadline = Date.now() + 1_000;
      let seen = 0;
      while (Date.now() < deadline && (seen = (await b.app.inject({ url })).json().price) !== price) await new Promise((r) => setTimeout(r, 5));
      expect(seen).toBe(price);
    }

    await a.app.inject({ method: 'PUT', url: `/api/v1/inventory/${sku}`, headers: admin, payload: { available: 0 } });
    const deadline = Date.now() + 1_000;
    let status = '';
    while (Date.now() < deadline && (status = (await b.app.inject({ url })).json().stock.status) !== 'out_of_stock') await new Promise((r) => setTimeout(r, 5));
    expect(status).toBe('out_of_stock');
  });

  it('drops a cached category page on the other instance when a product on it changes', async () => {
    const admin = bearer(await adminToken(a));
    const category = `Cat-${randomBytes(4).toString('hex')}`;
    const created = await a.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload: { sku: `PG-${category}`, name: 'Before', category, price: 100 } });
    const url = `/api/v1/products?category=${category}`;
    const namesOnB = async () => (await b.app.inject({ url })).json<{ items: { name: string }[] }>().items.map((p) => p.name);
    expect(await namesOnB()).toEqual(['Before']); // B caches the page
    await a.app.inject({ method: 'PATCH', url: `/api/v1/products/${created.json().id}`, headers: admin, payload: { name: 'After' } });
    const deadline = Date.now() + 1_000;
    while (Date.now() < deadline && (await namesOnB())[0] !== 'After') await new Promise((r) => setTimeout(r, 5));
    expect(await namesOnB()).toEqual(['After']);
  });
});
