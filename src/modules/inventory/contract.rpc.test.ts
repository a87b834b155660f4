import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryCache } from '../../platform/cache/bentocache.adapter.ts';
import type { Cache } from '../../platform/cache/cache.ts';
import type { Database } from '../../platform/db/database.ts';
import { migrate } from '../../platform/db/migrations.ts';
import { createPgliteDatabase } from '../../platform/db/pglite.adapter.ts';
import { createSingleShardSet } from '../../platform/db/sharding/shard-set.ts';
import { controlOf, httpClient, localClient, RpcError } from '../../platform/rpc/index.ts';
import { SECRET, serve } from '../../platform/rpc/rpc-fixtures.ts';
import type { InventoryApi } from './contract.ts';
import { inventoryContract } from './contract.rpc.ts';
import { inventoryMigrations } from './inventory.schema.ts';
import { createInventoryService } from './inventory.service.ts';

/** The real inventory service on PGlite, called in-process and through its internal routes. */
describe('the inventory contract over HTTP', () => {
  let db: Database;
  let cache: Cache;
  let app: FastifyInstance;
  let local: InventoryApi;
  let remote: InventoryApi;

  beforeAll(async () => {
    db = await createPgliteDatabase({ dataDir: 'memory://' });
    await migrate(db, 'inventory', inventoryMigrations);
    cache = createMemoryCache({ defaultTtlSeconds: 60, maxItems: 1000 });
    const api = createInventoryService(createSingleShardSet(db), cache);
    local = localClient(inventoryContract, api);
    let url: string;
    ({ url, app } = await serve(inventoryContract, api));
    remote = httpClient(inventoryContract, { urls: [url], secret: SECRET, caller: 'catalog', health: false });
  });

  afterAll(async () => {
    await controlOf(remote).close();
    await app.close();
    await cache.close();
    await db.close();
  });

  it('answers as the service does: levels, a Map of levels, reservations and their refusals', async () => {
    await local.importStock([{ sku: 'RPC-1', available: 5 }, { sku: 'RPC-2', available: 1 }]);
    expect(await remote.getStock('RPC-1')).toEqual(await local.getStock('RPC-1'));
    expect(await remote.getStock('NOPE')).toBeNull();
    const many = await remote.getStockMany(['RPC-1', 'RPC-2', 'NOPE']);
    expect(many).toBeInstanceOf(Map);
    expect(many).toEqual(await local.getStockMany(['RPC-1', 'RPC-2', 'NOPE']));

    expect(await remote.reserve('order-1', [{ sku: 'RPC-1', quantity: 2 }])).toEqual({ ok: true, reservationId: 'order-1' });
    // Idempotent by reservation id: the same hold, not a second one.
    expect(await remote.reserve('order-1', [{ sku: 'RPC-1', quantity: 2 }])).toEqual({ ok: true, reservationId: 'order-1' });
    expect(await remote.reserve('order-2', [{ sku: 'RPC-2', quantity: 2 }])).toEqual({ ok: false, reason: 'OUT_OF_STOCK', sku: 'RPC-2' });
    expect(await remote.commit('order-1')).toBe(true);
    expect(await remote.release('order-9')).toBe(false);
    expect(await local.getStock('RPC-1')).toMatchObject({ available: 3, reserved: 0 });
    expect(await remote.setStock('RPC-2', 7)).toMatchObject({ sku: 'RPC-2', available: 7 });
  });

  it('refuses to register a stock listener across processes', () => {
    expect(() => remote.onStockChanged(async () => {})).toThrow(RpcError);
  });
});
