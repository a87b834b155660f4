import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatedPaymentProvider } from '../../src/modules/payments/simulated-payment-provider.ts';
import { createSimulatedWarehouse } from '../../src/modules/notifications/simulated-warehouse.ts';
import { bearer, signup, startTestMonolith, type TestMonolith } from '../support/monolith.ts';
import { createProduct, eventually, placeOrder, settled, stockOf } from '../support/orders.ts';

describe('placing orders', () => {
  let m: TestMonolith;
  let token: string;
  // Orders whose total is 13.13 are declined, as a real provider declines a card.
  const payments = createSimulatedPaymentProvider({ decline: (request) => request.amount === 1313 });
  const warehouse = createSimulatedWarehouse();

  beforeAll(async () => {
    m = await startTestMonolith({}, { providers: { payments, warehouse } });
    token = (await signup(m, 'buyer@example.com')).token;
  });
  afterAll(() => m.dispose());

  it('answers 202 at once, then confirms the order with a timeline, an invoice, an email and a warehouse call', async () => {
    const productId = await createProduct(m, 'FLOW-1', 5, 2500);
    const placed = await placeOrder(m, token, productId, 2);
    expect(placed.statusCode).toBe(202);
    expect(placed.json()).toMatchObject({ status: 'pending' });
    expect(placed.headers.location).toBe(`/api/v1/orders/${placed.json().id}`);

    const order = await settled(m, token, placed.json().id);
    expect(order).toMatchObject({ status: 'confirmed', total: 5000, currency: 'USD', items: [{ sku: 'FLOW-1', quantity: 2, unitPrice: 2500 }] });
    expect(order.trackingNumber).toMatch(/^TRK/);
    expect(order.timeline.filter((t: { phase: string }) => t.phase === 'run').map((t: { step: string }) => t.step)).toEqual(['reserve-stock', 'charge-payment', 'book-shipment', 'commit-stock']);
    expect(await stockOf(m, 'FLOW-1')).toEqual({ available: 3, reserved: 0 });
    expect(payments.charges().filter((c) => c.orderId === order.id)).toHaveLength(1);

    const invoice = await eventually(() => m.app.inject({ method: 'GET', url: `/api/v1/orders/${order.id}/invoice`, headers: bearer(token) }), (r) => r.statusCode === 200);
    expect(invoice.headers['content-type']).toBe('application/pdf');
    expect(invoice.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    await eventually(async () => warehouse.received().map((r) => r.orderId), (ids) => ids.includes(order.id));
    const mails = await eventually(() => readdir(path.join(m.dataDir, 'mail')).catch((): string[] => []), (files) => files.includes(`${order.id}-confirmed.eml`));
    expect(mails).toContain(`${order.id}-confirmed.eml`);

    const history = await eventually(
      async () => (await m.app.inject({ method: 'GET', url: '/api/v1/orders', headers: bearer(token) })).json(),
      (page) => page.items.some((o: { id: string; status: string }) => o.id === order.id && o.status === 'confirmed'),
    );
    expect(history.items[0]).toMatchObject({ id: order.id, status: 'confirmed', total: 5000, itemCount: 2 });
  });

  it('oversells nothing: 50 concurrent orders against stock 10 confirm exactly 10', async () => {
    const productId = await createProduct(m, 'HOT-50', 10);
    const buyers = await Promise.all(Array.from({ length: 5 }, (_, i) => signup(m, `rush${i}@example.com`)));
    let lowest = 10;
    const watcher = setInterval(async () => {
      lowest = Math.min(lowest, (await stockOf(m, 'HOT-50')).available);
    }, 5);
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => placeOrder(m, buyers[i % 5]!.token, productId)));
    expect(responses.every((r) => r.statusCode === 202)).toBe(true);
    const orders = await Promise.all(responses.map((r, i) => settled(m, buyers[i % 5]!.token, r.json().id)));
    clearInterval(watcher);
    expect(orders.filter((o) => o.status === 'confirmed')).toHaveLength(10);
    const failed = orders.filter((o) => o.status === 'failed');
    expect(failed).toHaveLength(40);
    expect(new Set(failed.map((o) => o.failureReason))).toEqual(new Set(['OUT_OF_STOCK']));
    expect(await stockOf(m, 'HOT-50')).toEqual({ available: 0, reserved: 0 });
    expect(lowest).toBeGreaterThanOrEqual(0);
  });

  it('fails a declined payment with PAYMENT_DECLINED and puts the stock back', async () => {
    const productId = await createProduct(m, 'DECLINE-1', 4, 1313);
    const placed = await placeOrder(m, token, productId, 1);
    const order = await settled(m, token, placed.json().id);
    expect(order).toMatchObject({ status: 'failed', failureReason: 'PAYMENT_DECLINED' });
    expect(await stockOf(m, 'DECLINE-1')).toEqual({ available: 4, reserved: 0 });
    const mails = await eventually(() => readdir(path.join(m.dataDir, 'mail')), (files) => files.includes(`${order.id}-failed.eml`));
    expect(mails).toContain(`${order.id}-failed.eml`);
  });

  it('gives one order for a repeated Idempotency-Key, and 422 when the body differs', async () => {
    const productId = await createProduct(m, 'IDEM-1', 10);
    const [first, second] = await Promise.all([placeOrder(m, token, productId, 1, 'key-abc'), placeOrder(m, token, productId, 1, 'key-abc')]);
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(second.json().id).toBe(first.json().id);
    const other = await placeOrder(m, token, productId, 2, 'key-abc');
    expect(other.statusCode).toBe(422);
    expect(other.json().code).toBe('IDEMPOTENCY_MISMATCH');
    await settled(m, token, first.json().id);
    expect(await stockOf(m, 'IDEM-1')).toEqual({ available: 9, reserved: 0 });
  });

  it("hides another customer's order (404) and refuses to cancel it", async () => {
    const productId = await createProduct(m, 'PRIV-1', 3);
    const placed = await placeOrder(m, token, productId);
    const stranger = (await signup(m, 'stranger@example.com')).token;
    for (const [method, url] of [['GET', `/api/v1/orders/${placed.json().id}`], ['POST', `/api/v1/orders/${placed.json().id}/cancel`], ['GET', `/api/v1/orders/${placed.json().id}/invoice`]] as const) {
      const response = await m.app.inject({ method, url, headers: bearer(stranger) });
      expect(response.statusCode, url).toBe(404);
    }
    expect((await settled(m, token, placed.json().id)).status).toBe('confirmed');
  });

  it('cancels a confirmed order: refund, shipment cancelled, stock back', async () => {
    const productId = await createProduct(m, 'CANCEL-1', 2, 700);
    const placed = await placeOrder(m, token, productId, 2);
    await settled(m, token, placed.json().id);
    const cancel = await m.app.inject({ method: 'POST', url: `/api/v1/orders/${placed.json().id}/cancel`, headers: bearer(token) });
    expect(cancel.statusCode).toBe(202);
    const order = await settled(m, token, placed.json().id, (o) => o.status === 'cancelled');
    expect(order.failureReason).toBe('CANCELLED');
    expect(await stockOf(m, 'CANCEL-1')).toEqual({ available: 2, reserved: 0 });
    const charge = payments.charges().find((c) => c.orderId === order.id)!;
    expect(payments.refunds().filter((r) => r.chargeId === charge.chargeId)).toEqual([expect.objectContaining({ amount: 1400 })]);
    const again = await m.app.inject({ method: 'POST', url: `/api/v1/orders/${order.id}/cancel`, headers: bearer(token) });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('ORDER_NOT_CANCELLABLE');
  });

  it('rejects bad orders with field names and stores nothing', async () => {
    const productId = await createProduct(m, 'BAD-1', 3);
    const bad = [
      { items: [{ productId, quantity: 0 }] },
      { items: [{ productId, quantity: -2 }] },
      { items: [] },
      { items: [{ productId, quantity: '1' }] },
    ];
    for (const body of bad) {
      const response = await m.app.inject({ method: 'POST', url: '/api/v1/orders', headers: bearer(token), payload: { ...body, shippingAddress: { name: 'x', line1: 'y', city: 'z', postalCode: '1', country: 'GB' } } });
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.json().code).toBe('VALIDATION_FAILED');
    }
    const unknown = await placeOrder(m, token, '01a2ffff-0000-7000-8000-000000000000');
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json()).toMatchObject({ code: 'UNKNOWN_PRODUCT', errors: [{ field: 'items.0.productId' }] });
    expect((await m.app.inject({ method: 'POST', url: '/api/v1/orders', payload: {} })).statusCode).toBe(401);
    expect(await stockOf(m, 'BAD-1')).toEqual({ available: 3, reserved: 0 });
  });
});

describe('the synchronous switch (the lab reference)', () => {
  it('does the saga and every notification before answering', async () => {
    const m = await startTestMonolith({ ORDER_PROCESSING: 'sync' });
    try {
      const { token } = await signup(m, 'patient@example.com');
      const productId = await createProduct(m, 'SYNC-1', 3);
      const placed = await placeOrder(m, token, productId);
      expect(placed.json().status).toBe('confirmed');
      const invoice = await m.app.inject({ method: 'GET', url: `/api/v1/orders/${placed.json().id}/invoice`, headers: bearer(token) });
      expect(invoice.statusCode).toBe(200);
      expect(await readdir(path.join(m.dataDir, 'mail'))).toContain(`${placed.json().id}-confirmed.eml`);
    } finally {
      await m.dispose();
    }
  });
});
