import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signup, startTestMonolith, type TestMonolith } from '../support/monolith.ts';
import { ADDRESS, createProduct, settled } from '../support/orders.ts';

describe('event context', () => {
  let m: TestMonolith;
  beforeAll(async () => {
    m = await startTestMonolith();
  });
  afterAll(() => m.dispose());

  it("carries the causing request's id and trace to the events its order appends, through the outbox to the log", async () => {
    const { token } = await signup(m, 'traced@example.com');
    const product = await createProduct(m, 'CTX-1', 5);
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const placed = await m.app.inject({
      method: 'POST', url: '/api/v1/orders',
      headers: { authorization: `Bearer ${token}`, 'x-request-id': 'checkout-42', traceparent: `00-${trace}-00f067aa0ba902b7-01` },
      payload: { items: [{ productId: product, quantity: 1 }], shippingAddress: ADDRESS },
    });
    expect(placed.statusCode).toBe(202);
    const order = placed.json<{ id: string }>();
    await settled(m, token, order.id);
    const logged = async () => (await m.db.query<{ type: string; context: { requestId?: string; traceparent?: string } | null }>(
      'select type, context from events.log where key = $1 order by seq', [order.id])).rows;
    let rows = await logged();
    for (let i = 0; i < 100 && rows.length < 2; i++) rows = (await new Promise((r) => setTimeout(r, 50)), await logged());
    expect(rows.map((r) => r.type)).toEqual(['orders.order.placed', 'orders.order.confirmed']);
    for (const row of rows) {
      expect(row.context?.requestId, row.type).toBe('checkout-42');
      expect(row.context?.traceparent, row.type).toMatch(new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`));
    }
  });
});
