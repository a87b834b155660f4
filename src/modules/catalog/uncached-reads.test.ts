import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, bearer, startTestMonolith, type TestMonolith } from '../../../test/support/monolith.ts';
import type { Product } from './contract.ts';

interface Page {
  items: (Product & { stock: { available: number } })[];
  nextCursor: string | null;
}

/**
 * With caching off every read reaches the database, so what a read costs there is what the
 * uncached path costs: a page of products is one query for the page and one for its stock, not
 * one per product shown.
 */
describe('reads with caching off', () => {
  let m: TestMonolith;
  const PRODUCTS = 12;

  async function queriesDuring(work: () => Promise<unknown>): Promise<number> {
    const before = m.db.stats().queries;
    await work();
    return m.db.stats().queries - before;
  }

  beforeAll(async () => {
    m = await startTestMonolith({ CACHE_MODE: 'off' });
    const admin = bearer(await adminToken(m));
    for (let i = 0; i < PRODUCTS; i++) {
      const payload = { sku: `UR-${i}`, name: `Trail Item ${i}`, category: 'Trail', price: 100 + i, stock: i };
      expect((await m.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload })).statusCode).toBe(201);
    }
  });
  afterAll(() => m.dispose());

  it('reads a page of products and all their stock in two statements', async () => {
    let page: Page | undefined;
    const queries = await queriesDuring(async () => (page = (await m.app.inject({ url: '/api/v1/products?category=Trail&limit=20' })).json<Page>()));
    expect(page!.items.map((p) => [p.sku, p.stock.available])).toEqual(Array.from({ length: PRODUCTS }, (_, i) => [`UR-${i}`, i]));
    expect(queries).toBe(2);
  });

  it('reads one product with its stock in two statements', async () => {
    const id = (await m.app.inject({ url: '/api/v1/products?category=Trail&limit=1' })).json<Page>().items[0]!.id;
    let body: Page['items'][number] | undefined;
    const queries = await queriesDuring(async () => (body = (await m.app.inject({ url: `/api/v1/products/${id}` })).json()));
    expect(body).toMatchObject({ id, sku: 'UR-0', stock: { available: 0 } });
    expect(queries).toBe(2);
  });
});
