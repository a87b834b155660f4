import type { Logger } from 'pino';
import { createDatabase } from '../platform/db/create-database.ts';
import type { Database, Queryable } from '../platform/db/database.ts';
import { createHashStrategy } from '../platform/db/sharding/hash.strategy.ts';
import { readShardMap } from '../platform/db/sharding/shard-set.ts';
import { migrateShard } from './shards.ts';

/** What moved when a shard was added. */
export interface ShardAddReport {
  shard: string;
  version: number;
  /** Per old shard: SKUs and customers handed to the new shard. */
  moved: { from: string; skus: number; customers: number; orders: number }[];
  /** How long writers to the old shards waited on the fence, in ms. */
  fencedMs: number;
}

export interface ShardAddOptions {
  /** The unsharded primary holding the shard map. */
  main: Database;
  /** The new shard's database; it must be empty of orders and stock. */
  url: string;
  logger: Logger;
  /** Longest wait, under the orders fence, for in-flight sagas of moving customers to settle. */
  settleTimeoutMs?: number;
}

interface Move {
  table: string;
  where: string;
}

/** The tables that move with a key, and how to select a key's rows. */
const MOVES: Record<'inventory' | 'orders', readonly Move[]> = {
  inventory: [
    { table: 'inventory.stock', where: 'sku = any($1::text[])' },
    { table: 'inventory.reservations', where: 'sku = any($1::text[])' },
  ],
  orders: [
    { table: 'orders.orders', where: 'customer_id = any($1::text[])' },
    { table: 'saga.instances', where: 'id in (select id from orders.orders where customer_id = any($1::text[]))' },
    { table: 'saga.history', where: 'saga_id in (select id from orders.orders where customer_id = any($1::text[]))' },
  ],
};

/** Children before parents on delete (reservations reference stock; history and sagas name orders). */
const DELETE_ORDER: readonly Move[] = [...[...MOVES.inventory].reverse(), ...[...MOVES.orders].reverse()];

/**
 * Adds a shard at the end of the map and moves to it exactly the keys jump hash now gives it:
 * about 1/(n+1) of SKUs and customers, all from the old shards to the new one, none between old
 * shards.
 *
 * Online, under the fences: order placement and every inventory write on the old shards wait (a
 * moment) while, in one transaction per old shard, the moving rows are copied to the new shard, the
 * map version rises, and the moved rows are deleted. Writers that waited find the fence epoch above
 * their map and retry on the key's new owner. In-flight sagas of moving customers are allowed to
 * settle first (holding order placement, but not stock), so a saga never runs on a shard that no
 * longer has its order. Reads of a moved key that hit the old shard before a process refreshes its
 * map miss and refresh.
 */
export async function addShard(options: ShardAddOptions): Promise<ShardAddReport> {
  const { main, url, logger } = options;
  const map = await readShardMap(main);
  if (map.shards.length === 0) throw new Error('the shard map is empty: start the scaled stage with SHARD_URLS first');
  if (map.shards.some((s) => s.url === url)) throw new Error(`${url} is already a shard`);
  const name = `shard-${map.shards.length}`;
  const version = map.version + 1;
  const owner = createHashStrategy({ shards: [...map.shards.map((s) => s.name), name] });

  const target = await createDatabase({ url, dataDir: '.', poolSize: 2 });
  const sources = await Promise.all(map.shards.map(async (entry) => ({ entry, db: await createDatabase({ url: entry.url, dataDir: '.', poolSize: 2 }) })));
  try {
    await migrateShard(target);
    const { rows: existing } = await target.query<{ n: number }>('select (select count(*) from inventory.stock) + (select count(*) from orders.orders) as n');
    if (Number(existing[0]!.n) > 0) throw new Error(`${url} already holds orders or stock`);
    // Processes still routing by the old map never write here; one that already routes by the new one may.
    await target.query('update sharding.fence set epoch = $1', [version]);

    const report: ShardAddReport = { shard: name, version, moved: [], fencedMs: 0 };
    const fenced = performance.now();
    await holdFences(sources.map((s) => s.db), async (fences) => {
      // Order placement waits from here; sagas already running still take and settle stock.
      const customersOf: string[][] = [];
      for (const [index, { entry }] of sources.entries()) {
        const tx = fences[index]!;
        const customers = (await tx.query<{ customer_id: string }>('select distinct customer_id from orders.orders')).rows
          .map((r) => r.customer_id).filter((id) => owner.shardFor(id) === name);
        await waitForSettledSagas(tx, customers, options.settleTimeoutMs ?? 15_000, entry.name);
        customersOf.push(customers);
      }
      // Now stock writes wait too.
      for (const tx of fences) await tx.query("select epoch from sharding.fence where keyspace = 'inventory' for update");
      const plans: { tx: Queryable; from: string; skus: string[]; customers: string[] }[] = [];
      for (const [index, { entry }] of sources.entries()) {
        const tx = fences[index]!;
        const skus = (await tx.query<{ sku: string }>('select sku from inventory.stock')).rows.map((r) => r.sku).filter((sku) => owner.shardFor(sku) === name);
        plans.push({ tx, from: entry.name, skus, customers: customersOf[index]! });
      }
      // Copy every moving row while the fences hold, commit the copy, then switch the map; the old
      // shards delete their copies and raise their epochs as their fence transactions commit.
      await target.transaction(async (into) => {
        for (const plan of plans) {
          for (const move of MOVES.inventory) await copyRows(plan.tx, into, move.table, move.where, plan.skus);
          for (const move of MOVES.orders) await copyRows(plan.tx, into, move.table, move.where, plan.customers);
        }
        // Copied history keeps its sequence numbers; new entries here must come after them.
        await into.query("select setval(pg_get_serial_sequence('saga.history', 'seq'), coalesce((select max(seq) from saga.history), 0) + 1, false)");
      });
      for (const plan of plans) {
        const { rows } = await plan.tx.query<{ n: number }>('select count(*)::int as n from orders.orders where customer_id = any($1::text[])', [plan.customers]);
        report.moved.push({ from: plan.from, skus: plan.skus.length, customers: plan.customers.length, orders: rows[0]!.n });
        for (const move of DELETE_ORDER) {
          const keys = MOVES.inventory.some((m) => m.table === move.table) ? plan.skus : plan.customers;
          await plan.tx.query(`delete from ${move.table} where ${move.where}`, [keys]);
        }
        await plan.tx.query('update sharding.fence set epoch = $1', [version]);
      }
      await main.transaction(async (tx) => {
        await tx.query('insert into sharding.shards (position, name, url) values ($1, $2, $3)', [map.shards.length, name, url]);
        await tx.query('update sharding.map set version = $1', [version]);
      });
    });
    report.fencedMs = Math.round(performance.now() - fenced);
    logger.info(report, 'shard added');
    return report;
  } finally {
    await target.close();
    await Promise.all(sources.map((s) => s.db.close()));
  }
}

/**
 * Runs `work` with the orders fence locked on every old shard, each in its own open transaction
 * that `work` continues (it takes the inventory fences itself once sagas have settled), and commits
 * them all after it, or rolls them all back if it throws.
 */
async function holdFences(dbs: readonly Database[], work: (fences: Queryable[]) => Promise<void>): Promise<void> {
  const opened: { tx: Queryable; finish: (commit: boolean) => void; done: Promise<void> }[] = [];
  try {
    for (const db of dbs) {
      let resolveTx!: (tx: Queryable) => void;
      let finish!: (commit: boolean) => void;
      const txReady = new Promise<Queryable>((resolve) => (resolveTx = resolve));
      const decided = new Promise<boolean>((resolve) => (finish = resolve));
      const done = db.transaction(async (tx) => {
        await tx.query("select epoch from sharding.fence where keyspace = 'orders' for update");
        resolveTx(tx);
        if (!(await decided)) throw new RollbackFences();
      }).catch((error: unknown) => {
        if (!(error instanceof RollbackFences)) throw error;
      });
      const tx = await Promise.race([txReady, done.then(() => null)]);
      if (!tx) throw new Error('a fence transaction ended before it was used');
      opened.push({ tx, finish, done });
    }
    await work(opened.map((o) => o.tx));
    for (const o of opened) o.finish(true);
    await Promise.all(opened.map((o) => o.done));
  } catch (error) {
    for (const o of opened) o.finish(false);
    await Promise.allSettled(opened.map((o) => o.done));
    throw error;
  }
}

class RollbackFences extends Error {}

/** Waits, under the orders fence, until no saga of the moving customers is still running. */
async function waitForSettledSagas(tx: Queryable, customers: readonly string[], timeoutMs: number, shard: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await tx.query<{ n: number }>(
      `select count(*)::int as n from saga.instances s join orders.orders o on o.id = s.id
       where o.customer_id = any($1::text[]) and s.status in ('running', 'compensating')`,
      [customers],
    );
    if (rows[0]!.n === 0) {
      // Lock them too: a cancellation racing the move waits, then finds its order moved.
      await tx.query('select 1 from saga.instances where id in (select id from orders.orders where customer_id = any($1::text[])) for update', [customers]);
      return;
    }
    if (Date.now() > deadline) throw new Error(`${rows[0]!.n} sagas of moving customers on ${shard} did not settle within ${timeoutMs} ms; nothing moved, try again`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Copies the rows of `table` matching `where` from one database to another, as JSON, preserving every column. */
async function copyRows(from: Queryable, into: Queryable, table: string, where: string, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const { rows } = await from.query<{ batch: unknown }>(`select coalesce(json_agg(t), '[]'::json) as batch from ${table} t where ${where}`, [keys]);
  await into.query(`insert into ${table} select * from json_populate_recordset(null::${table}, $1::json)`, [JSON.stringify(rows[0]!.batch)]);
}
