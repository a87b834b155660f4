import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, bearer, signup, startTestMonolith, type TestMonolith } from '../../../test/support/monolith.ts';

describe('catalog over HTTP', () => {
  let m: TestMonolith;
  let admin: Record<string, string>;
  let customer: Record<string, string>;

  const create = (payload: object) => m.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload });

  beforeAll(async () => {
    m = await startTestMonolith();
    admin = bearer(await adminToken(m));
    customer = bearer((await signup(m, 'shopper@example.com')).token);
    const products = [
      { sku: 'TENT-1', name: 'Alpine Tent', description: 'A two-person tent for storms', category: 'Outdoors', price: 24999, stock: 3 },
      { sku: 'STOVE-1', name: 'Camp Stove', description: 'Boils water in two minutes', category: 'Outdoors', price: 4999, stock: 40 },
      { sku: 'MUG-1', name: 'Enamel Mug', description: 'Keeps coffee warm', category: 'Kitchen', price: 1299 },
    ];
    for (const product of products) expect((await create(product)).statusCode).toBe(201);
  });
  afterAll(() => m.dispose());

  it('creates a product with its stock and a Location, and serves it', async () => {
    const created = await create({ sku: 'LAMP-1', name: 'Head Lamp', category: 'Outdoors', price: 2599, stock: 12 });
    expect(created.statusCode).toBe(201);
    const product = created.json();
    expect(created.headers.location).toBe(`/api/v1/products/${product.id}`);
    expect(product).toMatchObject({ sku: 'LAMP-1', price: 2599, currency: 'USD', version: 1, stock: { available: 12, status: 'in_stock' } });
    const fetched = await m.app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` });
    expect(fetched.json()).toEqual(product);
  });

  it('refuses customers (403), anonymous callers (401), duplicate SKUs (409) and bad prices (400)', async () => {
    const body = { sku: 'X-1', name: 'X', category: 'Misc', price: 100 };
    expect((await m.app.inject({ method: 'POST', url: '/api/v1/products', headers: customer, payload: body })).statusCode).toBe(403);
    expect((await m.app.inject({ method: 'POST', url: '/api/v1/products', payload: body })).statusCode).toBe(401);
    const duplicate = await create({ ...body, sku: 'TENT-1' });
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().code).toBe('SKU_TAKEN');
    for (const price of [-1, 12.5, '100']) {
      const bad = await create({ ...body, sku: 'X-2', price });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().errors[0].field).toBe('price');
    }
    const page = await m.app.inject({ method: 'GET', url: '/api/v1/products?q=X' });
    expect(page.json().items).toEqual([]);
  });

  it('pages through the catalog with an opaque cursor, filters by category and searches text', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/api/v1/products?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await m.app.inject({ method: 'GET', url });
      expect(page.statusCode).toBe(200);
      const body: { items: { sku: string }[]; nextCursor: string | null } = page.json();
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items.map((p) => p.sku));
      cursor = body.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining(['TENT-1', 'STOVE-1', 'MUG-1']));

    const kitchen = await m.app.inject({ method: 'GET', url: '/api/v1/products?category=Kitchen' });
    expect(kitchen.json().items.map((p: { sku: string }) => p.sku)).toEqual(['MUG-1']);
    const search = await m.app.inject({ method: 'GET', url: '/api/v1/products?q=storms%20tent' });
    expect(search.json().items.map((p: { sku: string }) => p.sku)).toEqual(['TENT-1']);
  });

  it('rejects a bad limit, an unknown query field and a forged cursor with VALIDATION_FAILED', async () => {
    for (const query of ['limit=0', 'limit=101', 'limit=ten', 'sort=price', 'cursor=not-a-cursor']) {
      const response = await m.app.inject({ method: 'GET', url: `/api/v1/products?${query}` });
      expect(response.statusCode, query).toBe(400);
      expect(response.json().code).toBe('VALIDATION_FAILED');
    }
  });

  it('answers 404 for a missing product', async () => {
    const missing = await m.app.inject({ method: 'GET', url: '/api/v1/products/01a20000-0000-7000-8000-000000000000' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('NOT_FOUND');
  });

  it('serves ETag and Cache-Control, 304 on a current tag, and a new tag after a change', async () => {
    const product = (await create({ sku: 'ROPE-1', name: 'Rope', category: 'Outdoors', price: 999, stock: 8 })).json();
    const url = `/api/v1/products/${product.id}`;
    const first = await m.app.inject({ method: 'GET', url });
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(first.headers['cache-control']).toMatch(/^public, max-age=\d+, stale-while-revalidate=\d+$/);

    const queriesBefore = m.db.stats().queries;
    const notModified = await m.app.inject({ method: 'GET', url, headers: { 'if-none-match': etag } });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.body).toBe('');
    expect(m.db.stats().queries).toBe(queriesBefore);

    const patched = await m.app.inject({ method: 'PATCH', url, headers: admin, payload: { price: 1099 } });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ price: 1099, version: 2 });
    const after = await m.app.inject({ method: 'GET', url, headers: { 'if-none-match': etag } });
    expect(after.statusCode).toBe(200);
    expect(after.json().price).toBe(1099);
    expect(after.headers.etag).not.toBe(etag);

    await m.app.inject({ method: 'PUT', url: '/api/v1/inventory/ROPE-1', headers: admin, payload: { available: 0 } });
    const soldOut = await m.app.inject({ method: 'GET', url, headers: { 'if-none-match': after.headers.etag as string } });
    expect(soldOut.statusCode).toBe(200);
    expect(soldOut.json().stock).toEqual({ available: 0, status: 'out_of_stock' });
  });

  it('answers 404 when patching a missing product and 400 for an empty patch', async () => {
    expect((await m.app.inject({ method: 'PATCH', url: '/api/v1/products/nope', headers: admin, payload: { price: 1 } })).statusCode).toBe(404);
    expect((await m.app.inject({ method: 'PATCH', url: '/api/v1/products/nope', headers: admin, payload: {} })).statusCode).toBe(400);
  });
});
