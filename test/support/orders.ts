import { expect } from 'vitest';
import type { Monolith } from '../../src/app/monolith.ts';
import { adminToken, bearer } from './monolith.ts';

export const ADDRESS = { name: 'Ada Lovelace', line1: '12 Engine Street', city: 'London', postalCode: 'N1 9GU', country: 'GB' };

/** Creates a product with stock through the admin API and returns its id. */
export async function createProduct(m: Monolith, sku: string, stock: number, price = 1000): Promise<string> {
  const admin = bearer(await adminToken(m));
  const response = await m.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload: { sku, name: `Product ${sku}`, category: 'Test', price, stock } });
  expect(response.statusCode).toBe(201);
  return response.json<{ id: string }>().id;
}

export async function placeOrder(m: Monolith, token: string, productId: string, quantity = 1, key?: string) {
  return m.app.inject({
    method: 'POST', url: '/api/v1/orders',
    headers: { ...bearer(token), ...(key ? { 'idempotency-key': key } : {}) },
    payload: { items: [{ productId, quantity }], shippingAddress: ADDRESS },
  });
}

/** Polls an order until it leaves `pending` (or the optional predicate holds). */
export async function settled(m: Monolith, token: string, orderId: string, done = (o: { status: string }) => o.status !== 'pending', ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const order = (await m.app.inject({ method: 'GET', url: `/api/v1/orders/${orderId}`, headers: bearer(token) })).json();
    if (done(order)) return order;
    if (Date.now() > deadline) throw new Error(`order ${orderId} still ${order.status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function stockOf(m: Monolith, sku: string) {
  const { rows } = await m.db.query<{ available: number; reserved: number }>('select available, reserved from inventory.stock where sku = $1', [sku]);
  return rows[0]!;
}
