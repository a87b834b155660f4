import { MODULE_NAMES, type Config, type ModuleName } from '../platform/config/config.ts';
import { createDatabase } from '../platform/db/create-database.ts';
import type { Database } from '../platform/db/database.ts';
import { migrate, type Migration } from '../platform/db/migrations.ts';
import {
  createMappedShardSet,
  createSingleShardSet,
  readShardMap,
  seedShardMap,
  shardFenceMigrations,
  shardMapMigrations,
  type ShardMapEntry,
  type ShardSet,
} from '../platform/db/sharding/shard-set.ts';
import type { DatabaseMetrics } from '../platform/observability/db-metrics.ts';
import { eventMigrations } from '../platform/events/events.schema.ts';
import { sagaMigrations } from '../platform/saga/saga.schema.ts';
import { inventoryMigrations } from '../modules/inventory/index.ts';
import { ordersMigrations } from '../modules/orders/index.ts';

/** The sharded modules' tables, by module. */
const SHARDED: ReadonlyArray<[ModuleName, Migration[]]> = [['inventory', inventoryMigrations], ['orders', ordersMigrations]];

/**
 * Every schema a shard carries: its fence, the outbox and the sagas (an order commits with its saga
 * and its event on its own shard), and the tables of the sharded modules among `modules`: a
 * service's shards hold its own modules' tables only.
 */
export async function migrateShard(db: Database, modules: readonly ModuleName[] = MODULE_NAMES): Promise<void> {
  await migrate(db, 'sharding-fence', shardFenceMigrations);
  await migrate(db, 'events', eventMigrations);
  await migrate(db, 'saga', sagaMigrations);
  for (const [module, migrations] of SHARDED) if (modules.includes(module)) await migrate(db, module, migrations);
}

export interface OpenShardsOptions {
  /** Where each shard's pool reports (under the shard's name). */
  metrics?: DatabaseMetrics;
  /** The one shard when there are no shards: the main database as the modules use it (with its replicas, if any). */
  unsharded?: Database;
  /** The modules this process runs: their sharded tables are migrated on each shard (default: all). */
  modules?: readonly ModuleName[];
}

/**
 * The shards orders and inventory live on. The shard map on the main database is the truth once it
 * lists any shard; `SHARD_URLS` only seeds it. With no shards, the main database is the one shard
 * (the monolith stage), with no fence and no map lookups.
 */
export async function openShards(config: Config, main: Database, options: OpenShardsOptions = {}): Promise<ShardSet> {
  await migrate(main, 'sharding', shardMapMigrations);
  if (config.shardUrls.length > 0) await seedShardMap(main, config.shardUrls);
  if ((await readShardMap(main)).shards.length === 0) return createSingleShardSet(options.unsharded ?? main);
  return createMappedShardSet({
    main,
    open: async (entry: ShardMapEntry) => {
      const db = await createDatabase({ url: entry.url, dataDir: config.dataDir, poolSize: config.dbPoolSize, onAcquireWait: options.metrics?.onAcquireWait(entry.name), outbox: config.events.outbox });
      options.metrics?.watch(db, entry.name);
      await migrateShard(db, options.modules);
      return db;
    },
  });
}
