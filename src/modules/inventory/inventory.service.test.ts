import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryCache } from '../../platform/cache/bentocache.adapter.ts';
import type { Database } from '../../platform/db/database.ts';
import { migrate } from '../../platform/db/migrations.ts';
import { createPgliteDatabase } from '../../platform/db/pglite.adapter.ts';
import { createPostgresDatabase } from '../../platform/db/postgres.adapter.ts';
import { createScratchDatabase } from '../../../test/support/postgres.ts';
import type { InventoryApi } from './contract.ts';
import { inventoryMigrations } from './inventory.schema.ts';
import { createInventoryService } from './inventory.service.ts';

const engines: Array<[string, () => Promise<{ db: Database; dispose: () => Promise<void> }>]> = [
  ['PGlite', async () => ({ db: await createPgliteDatabase({ dataDir: 'memory://' }), dispose: async () => undefined })],
  ['PostgreSQL', async () => {
    const scratch = await createScratchDatabase();
    return { db: createPostgresDatabase({ connectionString: scratch.url, poolSize: 20 }), dispose: scratch.drop };
  }],
];

describe.each(engines)('inventory reservations on %s', (_name, open) => {
  let db: Database;
  let dispose: () => Promise<void>;
  let inventory: InventoryApi;
  beforeAll(async () => {
    ({ db, dispose } = await open());
    await migrate(db, 'inventory', inventoryMigrations);
    inventory = createInventoryService(db, createMemoryCache({ defaultTtlSeconds: 60, maxItems: 1000 }));
  });
  afterAll(async () => {
    await db.close();
    await dispose();
  });

  it('never oversells: 100 concurrent reservations of 1 against stock 10 hold exactly 10', async () => {
    await inventory.setStock('HOT', 10);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => inventory.reserve(`order-${i}`, [{ sku: 'HOT', quantity: 1 }])));
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    expect(results.filter((r) => !r.ok && r.reason === 'OUT_OF_STOCK')).toHaveLength(90);
    const { rows } = await db.query<{ available: number; reserved: number }>("select available, reserved from inventory.stock where sku = 'HOT'");
    expect(rows[0]).toEqual({ available: 0, reserved: 10 });
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
});
