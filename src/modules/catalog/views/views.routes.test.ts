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
});
