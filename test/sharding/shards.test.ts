import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addShard } from '../../src/app/shard-rebalance.ts';
import { createPostgresDatabase } from '../../src/platform/db/postgres.adapter.ts';
import type { Database } from '../../src/platform/db/database.ts';
import { createHashStrategy } from '../../src/platform/db/sharding/hash.strategy.ts';
import { readShardMap } from '../../src/platform/db/sharding/shard-set.ts';
import { createLogger } from '../../src/platform/observability/logger.ts';
import { adminToken, bearer, signup, startTestMonolith, type TestMonolith } from '../support/monolith.ts';
import { ADDRESS, createProduct, eventually } from '../support/orders.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.ts';

const SKUS = Array.from({ length: 24 }, (_, i) => `SH-${i}`);
const STOCK = 1_000;

/** Orders sharded by customer and stock by SKU over four real PostgreSQL databases, then a fifth added online. */
describe('orders and inventory on shards', () => {
  let main: ScratchDatabase;
  let shardDbs: ScratchDatabase[];
  let extra: ScratchDatabase;
  let m: TestMonolith;
  let admin: Record<string, string>;
  let customers: string[];
  let productIds: string[];
  const direct = new Map<string, Database>();

  /** Each shard database by URL, read directly (not through the app). */
  const dbOf = (url: string) => {
    if (!direct.has(url)) direct.set(url, createPostgresDatabase({ connectionString: url, poolSize: 2 }));
    return direct.get(url)!;
  };
  async function everyShard<T>(sql: string): Promise<{ name: string; rows: T[] }[]> {
    const map = await readShardMap(dbOf(main.url));
    return Promise.all(map.shards.map(async (s) => ({ name: s.name, rows: (await dbOf(s.url).query<T>(sql)).rows as T[] })));
  }

  beforeAll(async () => {
    const scratches = await Promise.all(Array.from({ length: 6 }, () => createScratchDatabase()));
    [main, extra] = [scratches[0]!, scratches[1]!];
    shardDbs = scratches.slice(2);
    m = await startTestMonolith({ DATABASE_URL: main.url, SHARD_URLS: shardDbs.map((s) => s.url).join(','), LOG_LEVEL: 'warn', RATE_LIMIT_ROUTES: '{}' });
    admin = bearer(await adminToken(m));
    productIds = [];
    for (const sku of SKUS) productIds.push(await createProduct(m, sku, STOCK));
    customers = [];
    for (let i = 0; i < 40; i++) customers.push((await signup(m, `shard-customer-${i}@example.com`)).token);
  }, 60_000);
  afterAll(async () => {
    await m?.dispose();
    for (const db of direct.values()) await db.close();
    for (const scratch of [main, extra, ...(shardDbs ?? [])]) await scratch?.drop();
  });

  let placed = 0;
  /** Places an order of three products (usually on different inventory shards); returns its id or null if refused. */
  async function order(i: number): Promise<string | null> {
    const items = [0, 1, 2].map((k) => ({ productId: productIds[(i * 7 + k * 5) % productIds.length]!, quantity: 1 }));
    const response = await m.app.inject({ method: 'POST', url: '/api/v1/orders', headers: bearer(customers[i % customers.length]!), payload: { items, shippingAddress: ADDRESS } });
    if (response.statusCode !== 202) throw new Error(`order ${i}: ${response.statusCode} ${response.body}`);
    placed++;
    return response.json<{ id: string }>().id;
  }

  const allSettled = () => eventually(
    () => everyShard<{ n: number }>("select count(*)::int as n from saga.instances where status in ('running', 'compensating')"),
    (shards) => shards.every((s) => s.rows[0]!.n === 0),
    30_000,
  );

  async function assertEveryRowOnItsOwner(): Promise<void> {
    const map = await readShardMap(dbOf(main.url));
    const owner = createHashStrategy({ shards: map.shards.map((s) => s.name) });
    const orders = await everyShard<{ id: string; customer_id: string }>('select id, customer_id from orders.orders');
    const stock = await everyShard<{ sku: string }>('select sku from inventory.stock');
    const orderIds = orders.flatMap((s) => s.rows.map((r) => r.id));
    expect(new Set(orderIds).size).toBe(orderIds.length); // no order on two shards
    expect(orderIds).toHaveLength(placed); // and none lost
    for (const shard of orders) for (const row of shard.rows) expect(owner.shardFor(row.customer_id)).toBe(shard.name);
    const skus = stock.flatMap((s) => s.rows.map((r) => r.sku));
    expect([...skus].sort()).toEqual([...SKUS].sort());
    for (const shard of stock) for (const row of shard.rows) expect(owner.shardFor(row.sku)).toBe(shard.name);
  }

  /** Units on shelves, held, and sold add up to what was stocked, across all shards. */
  async function assertStockConserved(): Promise<void> {
    const stock = await everyShard<{ units: string }>('select coalesce(sum(available + reserved), 0) as units from inventory.stock');
    const sold = await everyShard<{ units: string }>("select coalesce(sum(quantity), 0) as units from inventory.reservations where status = 'committed'");
    const total = [...stock, ...sold].reduce((sum, s) => sum + Number(s.rows[0]!.units), 0);
    expect(total).toBe(SKUS.length * STOCK);
  }

  it('places orders whose items span inventory shards, and keeps every row on exactly one shard', async () => {
    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => order(i)));
    await allSettled();
    const statuses = await everyShard<{ status: string }>('select status from orders.orders');
    expect(statuses.flatMap((s) => s.rows.map((r) => r.status)).every((s) => s === 'confirmed')).toBe(true);
    expect(statuses.filter((s) => s.rows.length > 0).length).toBeGreaterThan(1); // customers spread over shards
    expect(ids.every((id) => id !== null)).toBe(true);
    await assertEveryRowOnItsOwner();
    await assertStockConserved();
  }, 60_000);

  it('lists every customer\'s orders across shards, newest first, and sums sales over all of them', async () => {
    const first = (await m.app.inject({ url: '/api/v1/admin/orders?limit=25', headers: admin })).json<{ items: { id: string }[]; nextCursor: string; partial: string[] }>();
    const second = (await m.app.inject({ url: `/api/v1/admin/orders?limit=25&cursor=${first.nextCursor}`, headers: admin })).json<{ items: { id: string }[]; nextCursor: string | null }>();
    const ids = [...first.items, ...second.items].map((o) => o.id);
    expect(first.partial).toEqual([]);
    expect(ids).toHaveLength(placed);
    expect(ids).toEqual([...ids].sort().reverse());
    const sales = (await m.app.inject({ url: '/api/v1/admin/sales', headers: admin })).json<{ totals: { currency: string; orders: number; revenue: number }[] }>();
    expect(sales.totals).toEqual([{ currency: 'USD', orders: placed, revenue: placed * 3 * 1000 }]);
    const customer = await m.app.inject({ url: '/api/v1/admin/orders', headers: bearer(customers[0]!) });
    expect(customer.statusCode).toBe(403);
  });

  it('adds a shard under concurrent orders: only its keys move, and no order, row or unit is lost or doubled', async () => {
    const before = await readShardMap(dbOf(main.url));
    const placedBefore = placed;
    let stop = false;
    let i = 1_000;
    const load = Promise.all(Array.from({ length: 4 }, async () => {
      while (!stop) await order(i++);
    }));
    await new Promise((r) => setTimeout(r, 300));
    const report = await addShard({ main: dbOf(main.url), url: extra.url, logger: createLogger('warn') });
    await new Promise((r) => setTimeout(r, 1_000));
    stop = true;
    await load;
    await allSettled();

    expect(report.shard).toBe('shard-4');
    // Jump hash gives the fifth shard about a fifth of the keys (forty customers: all staying put has odds of 1 in 7 500).
    expect(report.moved.reduce((sum, m) => sum + m.skus, 0)).toBeGreaterThan(0);
    expect(report.moved.reduce((sum, m) => sum + m.customers, 0)).toBeGreaterThan(0);
    expect(placed).toBeGreaterThan(placedBefore); // orders kept coming while keys moved
    expect((await readShardMap(dbOf(main.url))).shards).toHaveLength(before.shards.length + 1);
    await assertEveryRowOnItsOwner();
    await assertStockConserved();
    // The orders placed before the move still read back through the app, from wherever they live now.
    for (const [k, token] of customers.entries()) {
      const history = await m.app.inject({ url: '/api/v1/orders?limit=100', headers: bearer(token) });
      for (const item of history.json<{ items: { id: string }[] }>().items.slice(0, 2)) {
        const got = await m.app.inject({ url: `/api/v1/orders/${item.id}`, headers: bearer(token) });
        expect(got.statusCode, `customer ${k} order ${item.id}`).toBe(200);
      }
    }
  }, 90_000);
});
