import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, bearer, startTestMonolith, type TestMonolith } from '../../../../test/support/monolith.ts';

describe('view counts (write-behind)', () => {
  let m: TestMonolith;
  let id: string;
  beforeAll(async () => {
    m = await startTestMonolith();
    const admin = bearer(await adminToken(m));
    id = (await m.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload: { sku: 'VIEW-1', name: 'Seen', category: 'Test', price: 1 } })).json<{ id: string }>().id;
  });
  afterAll(() => m.dispose());

  const view = (viewId: string, productId = id) => m.app.inject({ method: 'POST', url: `/api/v1/products/${productId}/views`, payload: { viewId } });

  it('counts each view id once, after a flush', async () => {
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => view(`view-id-${i % 40}`)));
    expect(responses.every((r) => r.statusCode === 202)).toBe(true);
    await m.modules.catalog.views.flush();
    expect((await m.app.inject({ url: `/api/v1/products/${id}/views` })).json()).toEqual({ productId: id, views: 40 });
    // A retry of a view that already counted, after the flush, still counts once.
    await view('view-id-3');
    await m.modules.catalog.views.flush();
    expect((await m.app.inject({ url: `/api/v1/products/${id}/views` })).json().views).toBe(40);
  });

  it('refuses unknown products and bad view ids', async () => {
    expect((await view('view-id-x', '01a2ffff-0000-7000-8000-000000000000')).statusCode).toBe(404);
    const bad = await view('short');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toBe('viewId');
  });

  it('ranks products by views, most first, in all categories or one, and refuses a bad limit', async () => {
    const admin = bearer(await adminToken(m));
    const create = async (sku: string, category: string) =>
      (await m.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload: { sku, name: sku, category, price: 1, stock: 30 } })).json<{ id: string }>().id;
    const [tent, lamp, mug] = [await create('POP-TENT', 'Camping'), await create('POP-LAMP', 'Camping'), await create('POP-MUG', 'Kitchen')];
    const counts = new Map([[tent, 45], [lamp, 70], [mug, 55]]);
    for (const [productId, n] of counts) for (let i = 0; i < n; i++) await view(`pop-${productId}-${i}`, productId);
    await m.modules.catalog.views.flush();

    const popular = async (query: string) => m.app.inject({ url: `/api/v1/products/popular?${query}` });
    const all = await popular('limit=3');
    expect(all.statusCode).toBe(200);
    expect(all.headers['cache-control']).toMatch(/^public, max-age=10\b/);
    expect(all.json().items.map((p: { sku: string; views: number }) => [p.sku, p.views])).toEqual([['POP-LAMP', 70], ['POP-MUG', 55], ['POP-TENT', 45]]);
    expect(all.json().items[0]).toMatchObject({ id: lamp, category: 'Camping', stock: { available: 30, status: 'in_stock' } });
    const camping = (await popular('category=Camping')).json().items.map((p: { sku: string }) => p.sku);
    expect(camping).toEqual(['POP-LAMP', 'POP-TENT']);
    expect((await popular('category=Nothing')).json().items).toEqual([]);
    for (const bad of ['limit=0', 'limit=51', 'sort=views']) expect((await popular(bad)).statusCode, bad).toBe(400);
  });
});
