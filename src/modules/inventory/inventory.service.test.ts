import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryCache } from '../../platform/cache/bentocache.adapter.ts';
import type { Database } from '../../platform/db/database.ts';
import { migrate } from '../../platform/db/migrations.ts';
import { createPgliteDatabase } from '../../platform/db/pglite.adapter.ts';
import { createPostgresDatabase } from '../../platform/db/postgres.adapter.ts';
import { createHashStrategy } from '../../platform/db/sharding/hash.strategy.ts';
import {
  createMappedShardSet, createSingleShardSet, seedShardMap, shardFenceMigrations, shardMapMigrations, type ShardSet,
} from '../../platform/db/sharding/shard-set.ts';
import { eventMigrations } from '../../platform/events/events.schema.ts';
import { createScratchDatabase } from '../../../test/support/postgres.ts';
import type { InventoryApi } from './contract.ts';
import { inventoryMigrations } from './inventory.schema.ts';
import { createInventoryService } from './inventory.service.ts';

async function single(db: Database) {
  await migrate(db, 'inventory', inventoryMigrations);
  return createSingleShardSet(db);
}

const engines: Array<[string, () => Promise<{ shards: ShardSet; dispose: () => Promise<void> }>]> = [
  ['PGlite', async () => {
    const db = await createPgliteDatabase({ dataDir: 'memory://' });
    return { shards: await single(db), dispose: () => db.close() };
  }],
  ['PostgreSQL', async () => {
    const scratch = await createScratchDatabase();
    const db = createPostgresDatabase({ connectionString: scratch.url, poolSize: 20 });
    return { shards: await single(db), dispose: async () => (await db.close(), await scratch.drop()) };
  }],
  // Three shards: the lines of one reservation land on different shards (A, B and C do).
  ['PostgreSQL, three shards', async () => {
    const scratches = await Promise.all([0, 1, 2, 3].map(() => createScratchDatabase()));
    const main = createPostgresDatabase({ connectionString: scratches[0]!.url, poolSize: 4 });
    await migrate(main, 'sharding', shardMapMigrations);
    await seedShardMap(main, scratches.slice(1).map((s) => s.url));
    const shards = await createMappedShardSet({
      main,
      open: async (entry) => {
        const db = createPostgresDatabase({ connectionString: entry.url, poolSize: 20 });
        await migrate(db, 'sharding-fence', shardFenceMigrations);
        await migrate(db, 'inventory', inventoryMigrations);
        return db;
      },
    });
    return {
      shards,
      dispose: async () => {
        await shards.close();
        await main.close();
        for (const scratch of scratches) await scratch.drop();
      },
    };
  }],
];

describe.each(engines)('inventory reservations on %s', (_name, open) => {
  let shards: ShardSet;
  let dispose: () => Promise<void>;
  let inventory: InventoryApi;
  /** The stock row as stored on the shard that owns the SKU. */
  const stored = async (sku: string) =>
    (await shards.shardFor(sku).db.query<{ available: number; reserved: number }>('select available, reserved from inventory.stock where sku = $1', [sku])).rows[0];
  beforeAll(async () => {
    ({ shards, dispose } = await open());
    inventory = createInventoryService(shards.keyspace('inventory'), createMemoryCache({ defaultTtlSeconds: 60, maxItems: 1000 }));
  });
  afterAll(() => dispose());

  it('never oversells: 100 concurrent reservations of 1 against stock 10 hold exactly 10', async () => {
    await inventory.setStock('HOT', 10);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => inventory.reserve(`order-${i}`, [{ sku: 'HOT', quantity: 1 }])));
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    expect(results.filter((r) => !r.ok && r.reason === 'OUT_OF_STOCK')).toHaveLength(90);
    expect(await stored('HOT')).toEqual({ available: 0, reserved: 10 });
  });

  it('reserves all lines or none, and is idempotent per reservation id', async () => {
    await inventory.setStock('A', 5);
    await inventory.setStock('B', 1);
    const refused = await inventory.reserve('r-1', [{ sku: 'A', quantity: 2 }, { sku: 'B', quantity: 2 }]);
    expect(refused).toEqual({ ok: false, reason: 'OUT_OF_STOCK', sku: 'B' });
    expect((await inventory.getStock('A'))!.available).toBe(5);

    expect(await inventory.reserve('r-2', [{ sku: 'A', quantity: 2 }, { sku: 'A', quantity: 1 }])).toEqual({ ok: true, reservationId: 'r-2' });
    expect(await inventory.reserve('r-2', [{ sku: 'A', quantity: 3 }])).toEqual({ ok: true, reservationId: 'r-2' });
    expect(await inventory.getStock('A')).toMatchObject({ available: 2, reserved: 3 });
    expect(await inventory.reserve('r-3', [{ sku: 'GHOST', quantity: 1 }])).toEqual({ ok: false, reason: 'UNKNOWN_SKU', sku: 'GHOST' });
  });

  it('releases a reservation once and commits another once', async () => {
    await inventory.setStock('C', 4);
    await inventory.reserve('keep', [{ sku: 'C', quantity: 1 }]);
    await inventory.reserve('drop', [{ sku: 'C', quantity: 2 }]);
    expect(await inventory.release('drop')).toBe(true);
    expect(await inventory.release('drop')).toBe(false);
    expect(await inventory.commit('keep')).toBe(true);
    expect(await inventory.commit('keep')).toBe(false);
    expect(await inventory.release('keep')).toBe(false);
    expect(await inventory.getStock('C')).toMatchObject({ available: 3, reserved: 0 });
    expect(await inventory.returnStock('keep')).toBe(true);
    expect(await inventory.returnStock('keep')).toBe(false);
    expect(await inventory.getStock('C')).toMatchObject({ available: 4, reserved: 0 });
  });

  it('reports, and does not fail, a committed change whose listener fails (the change stands)', async () => {
    const reported: Array<readonly string[]> = [];
    const told = createInventoryService(shards.keyspace('inventory'), createMemoryCache({ defaultTtlSeconds: 60, maxItems: 1000 }), {
      onChangeError: (_error, skus) => void reported.push(skus),
    });
    told.onStockChanged(async () => {
      throw new Error('the catalog cannot drop its views');
    });
    expect((await told.setStock('L1', 3)).available).toBe(3);
    expect(await told.reserve('listened', [{ sku: 'L1', quantity: 2 }])).toEqual({ ok: true, reservationId: 'listened' });
    expect(await stored('L1')).toEqual({ available: 1, reserved: 2 });
    expect(await told.commit('listened')).toBe(true);
    expect(await stored('L1')).toEqual({ available: 1, reserved: 0 });
    expect(reported).toEqual([['L1'], ['L1'], ['L1']]);
  });

  it('publishes a stock change of each SKU in its transaction when asked (for catalogs in other processes), and nothing for a refusal or a no-op', async () => {
    for (const shard of shards.shards()) await migrate(shard.db, 'events', eventMigrations);
    const woken: string[] = [];
    const publishing = createInventoryService(shards.keyspace('inventory'), createMemoryCache({ defaultTtlSeconds: 60, maxItems: 1000 }), {
      publishChanges: { afterCommit: (shard) => void woken.push(shard.name) },
    });
    const published = async () => (await shards.shardFor('P1').db.query<{ type: string; key: string; payload: unknown }>(
      "select type, key, payload from events.outbox where key = 'P1'",
    )).rows;
    await publishing.setStock('P1', 2);
    expect((await publishing.reserve('p-refused', [{ sku: 'P1', quantity: 5 }])).ok).toBe(false);
    expect((await publishing.reserve('p-ok', [{ sku: 'P1', quantity: 1 }])).ok).toBe(true);
    expect(await publishing.commit('p-ok')).toBe(true);
    expect(await publishing.commit('p-ok')).toBe(false);
    // Set, reserve and commit: three events carrying the stock's version after each change, each woke the relay of the SKU's shard.
    const events = await published();
    expect(events.map((e) => [e.type, e.key])).toEqual(Array.from({ length: 3 }, () => ['inventory.stock.changed', 'P1']));
    const versions = events.map((e) => (e.payload as { version: number }).version).sort((a, b) => a - b);
    expect(versions).toEqual([versions[0], versions[0]! + 1, versions[0]! + 2]);
    expect(events.at(-1)!.payload).toEqual({ sku: 'P1', version: (await publishing.getStock('P1'))!.version });
    expect(woken).toEqual(Array.from({ length: 3 }, () => shards.shardFor('P1').name));
  });

  it('gives a new SKU its first stock, and leaves a SKU that has stock as it is (idempotent)', async () => {
    expect(await inventory.initStock('N1', 4)).toMatchObject({ sku: 'N1', available: 4, reserved: 0 });
    expect((await inventory.reserve('n-1', [{ sku: 'N1', quantity: 1 }])).ok).toBe(true);
    // The product's event arrives after a sale: the sale stands.
    expect(await inventory.initStock('N1', 4)).toMatchObject({ available: 3, reserved: 1 });
    expect(await stored('N1')).toEqual({ available: 3, reserved: 1 });
  });

  it('holds nothing anywhere after a refusal, even when the lines span shards, and decides afresh later', async () => {
    await inventory.setStock('S1', 3);
    await inventory.setStock('S2', 3);
    await inventory.setStock('S3', 0);
    const lines = [{ sku: 'S1', quantity: 2 }, { sku: 'S2', quantity: 2 }, { sku: 'S3', quantity: 1 }];
    expect(await inventory.reserve('span', lines)).toEqual({ ok: false, reason: 'OUT_OF_STOCK', sku: 'S3' });
    for (const sku of ['S1', 'S2']) expect(await stored(sku)).toEqual({ available: 3, reserved: 0 });
    await inventory.setStock('S3', 1);
    expect(await inventory.reserve('span', lines)).toEqual({ ok: true, reservationId: 'span' });
    expect(await inventory.commit('span')).toBe(true);
    expect([await stored('S1'), await stored('S2'), await stored('S3')]).toEqual([
      { available: 1, reserved: 0 }, { available: 1, reserved: 0 }, { available: 0, reserved: 0 },
    ]);
  });
});

it('puts the SKUs of one order on different shards (so the sharded suite above spans shards)', () => {
  const strategy = createHashStrategy({ shards: ['shard-0', 'shard-1', 'shard-2'] });
  expect(new Set(['S1', 'S2', 'S3'].map((sku) => strategy.shardFor(sku))).size).toBeGreaterThan(1);
});
