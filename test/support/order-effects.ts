import pg from 'pg';
import { expect } from 'vitest';
import type { ProviderSimulator } from '../../lab/simulators/providers.ts';

/** An order a crash test placed, and what it asked for (the sales read model is checked against it). */
export interface PlacedOrder {
  id: string;
  token: string;
  productId: string;
  quantity: number;
}

/** Runs one statement on its own connection, so a test holds nothing open between checks. */
export async function queryDatabase<R extends object>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Runs `check` every 250 ms until it stops throwing; after `withinMs`, throws its last error. */
export async function eventuallyPasses(check: () => Promise<void>, withinMs = 30_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * Polls every order (`statusOf`, which must ride out a dead instance itself) until it is no
 * longer pending; returns the final statuses. Throws naming the first order still pending after
 * `withinMs`.
 */
export async function settleOrders(orders: readonly PlacedOrder[], statusOf: (order: PlacedOrder) => Promise<string>, withinMs: number): Promise<Map<string, string>> {
  const final = new Map<string, string>();
  const deadline = Date.now() + withinMs;
  for (const order of orders) {
    for (;;) {
      const status = await statusOf(order);
      if (status !== 'pending') {
        final.set(order.id, status);
        break;
      }
      if (Date.now() > deadline) throw new Error(`order ${order.id} still pending after ${withinMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return final;
}

export interface EffectsEvidence {
  simulator: ProviderSimulator;
  /** The database each of the orders and notifications modules writes (their read models, invoices). */
  databaseOf(module: 'orders' | 'notifications'): string;
  /** Every order the suite placed so far, for the sales read model, which sums them all. */
  placed: readonly PlacedOrder[];
  /** The final status of each of `placed`. */
  settleAll(): Promise<Map<string, string>>;
}

const countOf = (ids: string[]) => ids.reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<string, number>());

/**
 * What every settled order must have produced once the system is quiet, checked against the
 * outside systems' log (the provider simulator's) and the read models: at most one charge per
 * order and one for each confirmed order, one email per order and final status at the mail API,
 * an invoice and a warehouse call per confirmed order, and read models that count each order once.
 */
export async function expectEffectsOnce(evidence: EffectsEvidence, final: Map<string, string>): Promise<void> {
  const { simulator, databaseOf } = evidence;
  const confirmed = [...final].filter(([, status]) => status === 'confirmed').map(([id]) => id);
  const log = simulator.log();
  for (const [orderId, charges] of countOf(log.charges.map((c) => c.orderId))) expect(charges, `charges of ${orderId}`).toBe(1);
  for (const id of confirmed) expect(log.charges.some((c) => c.orderId === id), `charge of ${id}`).toBe(true);
  await eventuallyPasses(async () => {
    const emails = countOf(simulator.log().emails.map((e) => e.idempotencyKey));
    for (const [id, status] of final) expect(emails.get(`${id}-${status}`), `email of ${id} (${status})`).toBe(1);
    const warehouse = countOf(simulator.log().warehouse.map((w) => w.orderId));
    for (const id of confirmed) expect(warehouse.get(id), `warehouse call of ${id}`).toBe(1);
    const invoices = await queryDatabase<{ order_id: string }>(databaseOf('notifications'), 'select order_id from notifications.invoices where order_id = any($1)', [confirmed]);
    expect(invoices.length).toBe(confirmed.length);
    const history = await queryDatabase<{ order_id: string; status: string }>(databaseOf('orders'), 'select order_id, status from orders.history where order_id = any($1)', [[...final.keys()]]);
    expect(new Map(history.map((h) => [h.order_id, h.status]))).toEqual(final);
  });
  // Sales per product count each confirmed order once, over every order placed so far.
  await eventuallyPasses(async () => {
    const everything = await evidence.settleAll();
    const expected = new Map<string, { units: number; orders: number }>();
    for (const order of evidence.placed) {
      if (everything.get(order.id) !== 'confirmed') continue;
      const sums = expected.get(order.productId) ?? { units: 0, orders: 0 };
      expected.set(order.productId, { units: sums.units + order.quantity, orders: sums.orders + 1 });
    }
    const sales = await queryDatabase<{ product_id: string; units: number; orders: number }>(databaseOf('orders'), 'select product_id, units, orders from orders.product_sales');
    expect(new Map(sales.filter((s) => s.orders > 0).map((s) => [s.product_id, { units: Number(s.units), orders: Number(s.orders) }]))).toEqual(expected);
  });
}
