import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildProjection } from '../../src/modules/orders/index.ts';
import { createSimulatedPaymentProvider } from '../../src/modules/payments/simulated-payment-provider.ts';
import { adminToken, bearer, signup, startTestMonolith, type TestMonolith } from '../support/monolith.ts';
import { createProduct, eventually, placeOrder, settled } from '../support/orders.ts';

describe('read models', () => {
  let m: TestMonolith;
  const payments = createSimulatedPaymentProvider({ decline: (r) => r.amount === 999 });
  beforeAll(async () => {
    m = await startTestMonolith({}, { providers: { payments } });
  });
  afterAll(() => m.dispose());

  const snapshot = async () => ({
    history: (await m.db.query('select order_id, customer_id, status, total, item_count, failure_reason from orders.history order by order_id')).rows,
    sales: (await m.db.query('select product_id, units, revenue::int as revenue, orders from orders.product_sales order by product_id')).rows,
  });

  it('are fed by events, survive a replay without double counting, and rebuild from the log alone', async () => {
    const { token } = await signup(m, 'reader@example.com');
    const good = await createProduct(m, 'RM-1', 10, 500);
    const declined = await createProduct(m, 'RM-2', 10, 999);
    const ids = [];
    for (const [product, qty] of [[good, 2], [good, 1], [declined, 1]] as const) ids.push((await placeOrder(m, token, product, qty)).json().id);
    for (const id of ids) await settled(m, token, id);
    await m.app.inject({ method: 'POST', url: `/api/v1/orders/${ids[1]}/cancel`, headers: bearer(token) });
    await settled(m, token, ids[1], (o) => o.status === 'cancelled');

    const expected = await eventually(snapshot, (s) => s.history.length === 3 && s.history.some((h) => h.status === 'cancelled') && s.sales.length === 1);
    expect(expected.sales).toEqual([{ product_id: good, units: 2, revenue: 1000, orders: 1 }]);

    // An admin replays the sales consumer from the start: events are re-delivered, counts stay.
    const admin = bearer(await adminToken(m));
    const replay = await m.app.inject({ method: 'POST', url: '/api/v1/admin/events/replay', headers: admin, payload: { consumer: 'orders.product-sales', fromSequence: 1 } });
    expect(replay.statusCode).toBe(202);
    await eventually(async () => (await m.app.inject({ url: '/metrics' })).body, (body) => /scalemart_event_consumer_lag\{consumer="orders.product-sales"\} 0/.test(body), 20_000);
    expect(await snapshot()).toEqual(expected);

    await m.db.exec('delete from orders.history; update orders.product_sales set units = 0');
    for (const projection of m.modules.orders.projections) await rebuildProjection(m.db, m.transport, projection);
    expect(await snapshot()).toEqual(expected);
  });

  it('lists dead letters for admins only and refuses unknown consumers', async () => {
    const admin = bearer(await adminToken(m));
    const list = await m.app.inject({ url: '/api/v1/admin/events/dead-letters', headers: admin });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({ items: [] });
    const { token } = await signup(m, 'nosy@example.com');
    expect((await m.app.inject({ url: '/api/v1/admin/events/dead-letters', headers: bearer(token) })).statusCode).toBe(403);
    const unknown = await m.app.inject({ method: 'POST', url: '/api/v1/admin/events/replay', headers: admin, payload: { consumer: 'nope', fromSequence: 1 } });
    expect(unknown.statusCode).toBe(404);
    for (const payload of [{ consumer: 'orders.product-sales' }, { consumer: 'orders.product-sales', fromSequence: 1, fromTime: new Date().toISOString() }, { consumer: 'catalog-cache-invalidation', fromSequence: 1 }]) {
      const refused = await m.app.inject({ method: 'POST', url: '/api/v1/admin/events/replay', headers: admin, payload });
      expect(refused.statusCode, JSON.stringify(payload)).toBe(400);
      expect(refused.json().code).toBe('VALIDATION_FAILED');
    }
  });

  it('replays a group from a time: what was appended since is handled again, what came before is not', async () => {
    const { token } = await signup(m, 'timely@example.com');
    const product = await createProduct(m, 'RM-T', 10, 700);
    const first = (await placeOrder(m, token, product, 1)).json().id;
    await settled(m, token, first);
    const sales = async () => (await m.db.query<{ units: number }>('select units from orders.product_sales where product_id = $1', [product])).rows[0]?.units;
    await eventually(sales, (units) => units === 1);
    await new Promise((r) => setTimeout(r, 50));
    const since = new Date();
    const second = (await placeOrder(m, token, product, 2)).json().id;
    await settled(m, token, second);
    await eventually(sales, (units) => units === 3);

    // The projection loses what it counted since then, and its own memory of both orders: a replay
    // from that time must count the second again and leave the first alone (from the start, it would
    // count the first twice).
    await m.db.query('update orders.product_sales set units = units - 2 where product_id = $1', [product]);
    await m.db.query("delete from orders.product_sales_applied where event_id in (select id from events.log where key = any($1) and type = 'orders.order.confirmed')", [[first, second]]);
    const admin = bearer(await adminToken(m));
    const replay = await m.app.inject({ method: 'POST', url: '/api/v1/admin/events/replay', headers: admin, payload: { consumer: 'orders.product-sales', fromTime: since.toISOString() } });
    expect(replay.statusCode).toBe(202);
    await eventually(sales, (units) => units === 3);
    await new Promise((r) => setTimeout(r, 500));
    expect(await sales()).toBe(3);
  });
});
