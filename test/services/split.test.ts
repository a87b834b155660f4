import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERNAL_CALL_HEADER, signInternalCall } from '../../src/platform/rpc/index.ts';
import { ADMIN } from '../support/monolith.ts';
import { createServiceSplit, eventually, INTERNAL_SECRET, S_MODULES, type ServiceSplit } from './support.ts';

/**
 * Scalemart split into service processes on one PostgreSQL database, events on its table
 * transport (the monolith stage's default on PostgreSQL):
 * - S = the order saga's callees and notifications (inventory, payments, shipping, notifications),
 * - I = identity,
 * - B = catalog and orders, reaching S and I through their contracts' HTTP clients.
 * Identity runs apart from S so that S can be stopped while orders can still look its customers up.
 */
describe('service processes: --role service --modules …', () => {
  let split: ServiceSplit;

  beforeAll(async () => {
    split = await createServiceSplit('scalemart_svc');
    await split.startAll();
  }, 180_000);
  afterAll(async () => {
    await split?.close();
  }, 60_000);

  const call: ServiceSplit['call'] = (...args) => split.call(...args);
  const logIn = (email: string) => split.logIn(email);
  const order = (token: string, productId: string, quantity = 1) => split.order(token, productId, quantity);
  const start = (name: 's', env: Record<string, string>) => split.start(name, env);
  const stop = (name: 's' | 'i') => split.stop(name);
  const stockOf = async (sku: string) => (await call('s', 'GET', `/api/v1/inventory/${sku}`)).body;

  it('places an order on B that its saga confirms over HTTP on S, and serves the invoice from S', async () => {
    const token = await logIn('svc-buyer@example.com');
    // Tokens issued by I are accepted by B (one JWT secret).
    const page = await call('b', 'GET', '/api/v1/products?limit=10');
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    const items = page.body.items as Array<{ id: string; sku: string; stock: { available: number } }>;
    expect(items).toHaveLength(6);
    // Stock comes from S: the seeded levels, read over the inventory contract.
    const product = items.find((p) => p.stock.available > 1)!;
    expect(product).toBeDefined();
    const before = await stockOf(product.sku);
    expect(before).toMatchObject({ available: product.stock.available });

    const placed = await order(token, product.id, 1);
    expect(placed.status, JSON.stringify(placed.body)).toBe(202);
    const id = placed.body.id as string;
    const confirmed = await eventually(() => call('b', 'GET', `/api/v1/orders/${id}`, { token }), (r) => r.body.status !== 'pending');
    expect(confirmed.body).toMatchObject({ status: 'confirmed', trackingNumber: expect.any(String) });
    // Stock was reserved and committed on S.
    expect((await stockOf(product.sku)).available).toBe((before.available as number) - 1);
    // Notifications on S consumed the confirmation and issued the invoice; B fetches its bytes.
    const invoice = await eventually(() => call('b', 'GET', `/api/v1/orders/${id}/invoice`, { token }), (r) => r.status === 200);
    expect(invoice.type).toBe('application/pdf');
    expect((invoice.body.bytes as Buffer).subarray(0, 5).toString()).toBe('%PDF-');
  });

  it('serves only the listed modules: B has no inventory API, S answers signed internal calls only', async () => {
    const path = '/internal/v1/inventory/getStock';
    const signed = { [INTERNAL_CALL_HEADER]: signInternalCall(INTERNAL_SECRET, 'test', `POST ${path}`) };
    expect((await call('b', 'POST', path, { body: ['SKU-1'], headers: signed })).status).toBe(404);
    expect((await call('b', 'GET', '/api/v1/inventory/SKU-1')).status).toBe(404);
    expect((await call('s', 'GET', '/api/v1/products')).status).toBe(404);
    const unsigned = await call('s', 'POST', path, { body: ['SKU-1'] });
    expect(unsigned.status).toBe(401);
    expect(unsigned.body).toMatchObject({ code: 'INTERNAL_UNAUTHENTICATED' });
    const forged = await call('s', 'POST', path, { body: ['SKU-1'], headers: { [INTERNAL_CALL_HEADER]: signInternalCall('another-secret-just-as-long-0123456789abcdef', 'test', `POST ${path}`) } });
    expect(forged.status).toBe(401);
    const answered = await call('s', 'POST', path, { body: ['no-such-sku'], headers: signed });
    expect(answered.status).toBe(200);
    expect(answered.body).toEqual({ result: null });
    // Each process's API document shows its own public routes only.
    const docs = (await call('b', 'GET', '/docs/json')).body as { paths: Record<string, unknown> };
    expect(Object.keys(docs.paths)).toContain('/api/v1/orders');
    expect(Object.keys(docs.paths).some((p) => p.startsWith('/api/v1/auth') || p.startsWith('/internal'))).toBe(false);
    for (const at of ['s', 'i', 'b'] as const) {
      expect((await call(at, 'GET', '/readyz')).status).toBe(200);
      expect((await call(at, 'GET', '/metrics')).status).toBe(200);
    }
  });

  it('with S stopped: orders answer 202 and wait in compensation, stock reads answer 503 at once, a new product gets its stock when S is back; S back: they fail INVENTORY_UNAVAILABLE; I stopped: orders 503', async () => {
    const token = await logIn('svc-late@example.com');
    // An admin adds two products on B (their stock goes to S); a customer opens the page of one,
    // which B caches with its stock.
    const admin = (await call('i', 'POST', '/api/v1/auth/login', { body: ADMIN })).body.token as string;
    const create = async (sku: string) => {
      const created = await call('b', 'POST', '/api/v1/products', { token: admin, body: { sku, name: `Product ${sku}`, category: 'Test', price: 1500, stock: 5 } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      return created.body as { id: string };
    };
    const viewed = await create('SVC-VIEWED');
    const unseen = await create('SVC-UNSEEN');
    expect((await call('b', 'GET', `/api/v1/products/${viewed.id}`)).body).toMatchObject({ stock: { available: 5 } });
    await stop('s');

    // Pricing an order reads the product's page: one B has not cached needs stock from S.
    const unpriced = await order(token, unseen.id);
    expect(unpriced.status).toBe(503);
    expect(unpriced.body).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    expect(unpriced.ms).toBeLessThan(1_000);
    const placed = await order(token, viewed.id);
    expect(placed.status, JSON.stringify(placed.body)).toBe(202);
    const id = placed.body.id as string;
    // The reservation's outcome is unknown, so the saga releases it before failing the order, and
    // that compensation retries until S answers: the order stays pending meanwhile.
    const waiting = await eventually(
      () => call('b', 'GET', `/api/v1/orders/${id}`, { token }),
      (r) => (r.body.timeline as Array<{ step: string; outcome: string }>).some((t) => t.step === 'reserve-stock' && t.outcome === 'INVENTORY_UNAVAILABLE'),
    );
    expect(waiting.body.status).toBe('pending');

    // A page B has not cached needs stock from S: 503 DEPENDENCY_UNAVAILABLE, fast.
    const uncached = await call('b', 'GET', '/api/v1/products?limit=7');
    expect(uncached.status, JSON.stringify(uncached.body)).toBe(503);
    expect(uncached.body).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    expect(uncached.ms).toBeLessThan(1_000);
    // A product page it has cached is still served, with the stock it was cached with.
    expect((await call('b', 'GET', `/api/v1/products/${viewed.id}`)).body).toMatchObject({ stock: { available: 5 } });
    // A product created meanwhile stands, with the stock asked for: its event carries that to S.
    const offline = await call('b', 'POST', '/api/v1/products', { token: admin, body: { sku: 'SVC-OFFLINE', name: 'Offline', category: 'Test', price: 900, stock: 3 } });
    expect(offline.status, JSON.stringify(offline.body)).toBe(201);
    expect(offline.body).toMatchObject({ sku: 'SVC-OFFLINE', stock: { available: 3 } });

    await start('s', { SCALEMART_MODULES: S_MODULES });
    await eventually(() => call('s', 'GET', '/api/v1/inventory/SVC-OFFLINE'), (r) => r.status === 200 && r.body.available === 3);
    const failed = await eventually(() => call('b', 'GET', `/api/v1/orders/${id}`, { token }), (r) => r.body.status !== 'pending');
    expect(failed.body).toMatchObject({ status: 'failed', failureReason: 'INVENTORY_UNAVAILABLE' });
    const again = await order(token, viewed.id);
    expect(again.status).toBe(202);
    expect((await eventually(() => call('b', 'GET', `/api/v1/orders/${again.body.id as string}`, { token }), (r) => r.body.status !== 'pending')).body.status).toBe('confirmed');

    await stop('i');
    const refused = await order(token, viewed.id);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    expect(refused.ms).toBeLessThan(1_000);
  }, 120_000);
});
