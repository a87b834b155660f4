import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, signup, startTestMonolith, type TestMonolith } from '../../../test/support/monolith.ts';
import { createProduct, eventually, placeOrder } from '../../../test/support/orders.ts';
import type { StorefrontSources } from './storefront.ts';

/**
 * Each part's deadline. Only the hanging source meets it; every other case expects whole pages, so
 * it is long enough that a real part on a loaded CI machine is not cut off and counted degraded.
 */
const DEADLINE_MS = 500;
type Mode = 'real' | 'throw' | 'hang';

describe('GET /api/v1/storefront/home', () => {
  let m: TestMonolith;
  let token: string;
  let orderId: string;
  const modes: { featured: Mode; orders: Mode } = { featured: 'real', orders: 'real' };
  const apply = <A extends unknown[], T>(mode: () => Mode, real: (...args: A) => Promise<T>) => (...args: A): Promise<T> => {
    if (mode() === 'throw') return Promise.reject(new Error('the orders read model is down'));
    if (mode() === 'hang') return new Promise<T>(() => {});
    return real(...args);
  };
  const home = (headers: Record<string, string> = {}) => m.app.inject({ url: '/api/v1/storefront/home', headers });

  beforeAll(async () => {
    m = await startTestMonolith({ SEED_DEMO_PRODUCTS: '0', STOREFRONT_PART_DEADLINE_MS: String(DEADLINE_MS) }, {
      storefrontSources: (real): StorefrontSources => ({
        ...real,
        featured: apply(() => modes.featured, real.featured),
        recentOrders: apply(() => modes.orders, real.recentOrders),
      }),
    });
    const plenty = await createProduct(m, 'HOME-PLENTY', 50);
    const few = await createProduct(m, 'HOME-FEW', 3);
    for (const viewId of ['home-view-1', 'home-view-2']) await m.app.inject({ method: 'POST', url: `/api/v1/products/${few}/views`, payload: { viewId } });
    await m.modules.catalog.views.flush();
    await createProduct(m, 'HOME-NONE', 0);
    ({ token } = await signup(m, 'home@scalemart.test'));
    orderId = (await placeOrder(m, token, plenty)).json<{ id: string }>().id;
    // The history is a read model: wait until it shows the order.
    await eventually(async () => (await m.app.inject({ url: '/api/v1/orders', headers: bearer(token) })).json<{ items: unknown[] }>().items.length, (n) => n === 1);
  }, 30_000);
  afterAll(() => m?.dispose());

  it('shows anyone featured and popular products with stock badges, publicly cacheable', async () => {
    const response = await home();
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(Object.keys(body).sort()).toEqual(['degraded', 'featured', 'popular']);
    expect(body.degraded).toEqual([]);
    expect(body.popular).toEqual([expect.objectContaining({ sku: 'HOME-FEW', views: 2, stock: { status: 'low_stock', available: 3 } })]);
    const badges = Object.fromEntries(body.featured.map((p: { sku: string; stock: { status: string } }) => [p.sku, p.stock.status]));
    expect(badges).toMatchObject({ 'HOME-PLENTY': 'in_stock', 'HOME-FEW': 'low_stock', 'HOME-NONE': 'out_of_stock' });
    expect(body.featured[0]).toMatchObject({ id: expect.any(String), name: expect.any(String), price: expect.any(Number), currency: 'USD' });
    expect(response.headers['cache-control']).toMatch(/^public, max-age=\d+, stale-while-revalidate=\d+$/);
    expect(response.headers.etag).toMatch(/^"h[\w-]+"$/);
    expect(response.headers.vary).toBe('Authorization, X-API-Key');
  });

  it('answers 304 to a client holding the current ETag', async () => {
    const first = await home();
    const again = await home({ 'if-none-match': String(first.headers.etag) });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect((await home({ 'if-none-match': '"hstale"' })).statusCode).toBe(200);
  });

  it("adds a signed-in customer's recent orders, privately", async () => {
    const response = await home(bearer(token));
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.degraded).toEqual([]);
    expect(body.orders).toEqual([expect.objectContaining({ id: orderId, itemCount: 1, total: 1000, currency: 'USD' })]);
    expect(body.featured).toHaveLength(3);
    expect(response.headers['cache-control']).toBe('private, no-store');
    expect(response.headers.etag).toBeUndefined();
  });

  it('still answers 200 when the orders source throws, naming it in degraded', async () => {
    modes.orders = 'throw';
    try {
      const response = await home(bearer(token));
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.degraded).toEqual(['orders']);
      expect(body).not.toHaveProperty('orders');
      expect(body.featured).toHaveLength(3);
    } finally {
      modes.orders = 'real';
    }
  });

  it('answers within the deadline when the orders source hangs, naming it in degraded', async () => {
    modes.orders = 'hang';
    try {
      const started = performance.now();
      const response = await home(bearer(token));
      const took = performance.now() - started;
      expect(response.statusCode).toBe(200);
      expect(response.json().degraded).toEqual(['orders']);
      expect(took).toBeGreaterThanOrEqual(DEADLINE_MS - 5);
      expect(took).toBeLessThan(DEADLINE_MS + 250);
      const metrics = (await m.app.inject({ url: '/metrics' })).body;
      expect(metrics).toContain('scalemart_aggregate_parts_degraded_total{aggregate="storefront_home",part="orders",reason="late"} 1');
      expect(metrics).toContain('scalemart_aggregate_parts_degraded_total{aggregate="storefront_home",part="orders",reason="failed"} 1');
    } finally {
      modes.orders = 'real';
    }
  });

  it('keeps a degraded anonymous page out of every cache', async () => {
    modes.featured = 'throw';
    try {
      const response = await home();
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ degraded: ['featured'], popular: expect.any(Array) });
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.headers.etag).toBeUndefined();
    } finally {
      modes.featured = 'real';
    }
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await m.app.inject({ url: '/docs/json' })).json<{ paths: Record<string, unknown> }>();
    expect(doc.paths).toHaveProperty('/api/v1/storefront/home');
  });
});
