import type { Database, Queryable } from '../database.ts';
import type { Migration } from '../migrations.ts';
import { createHashStrategy, type HashStrategy } from './hash.strategy.ts';

/** One shard as the running process holds it. */
export interface Shard {
  readonly name: string;
  readonly db: Database;
}

/**
 * The shards that own a module's rows, and the key → shard routing over them.
 *
 * Rows move between shards only under the fence: every write transaction on a shard first reads
 * the shard's fence epoch for its keyspace (`for share`); a rebalance takes the same row
 * `for update`, moves the keys, and raises the epoch. Keyspaces (orders, inventory) have separate
 * fences so that a rebalance can hold order placement while in-flight sagas still reserve stock. A writer that was routed by an older shard map than the epoch finds
 * that out inside its transaction, and `write` refreshes the map and runs the work again on the
 * key's new owner. A write therefore never lands on a shard that no longer owns its key.
 */
export interface ShardSet {
  /** The same shards, with writes fenced by `name`'s fence (each module writes through its own keyspace). */
  keyspace(name: Keyspace): ShardSet;
  /** The shard-map version this process routes by. */
  version(): number;
  shards(): readonly Shard[];
  /** The shard that owns `key` under the current map. */
  shardFor(key: string): Shard;
  /** A write transaction on the owner of `key`, retried on the new owner if a rebalance moved it meanwhile. */
  write<T>(key: string, work: (tx: Queryable, shard: Shard) => Promise<T>): Promise<T>;
  /** A write transaction on one named shard under the fence; `StaleShardMapError` if the map moved. */
  writeOn<T>(shard: Shard, work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Re-reads the shard map; true when it changed (new shards are opened and announced). */
  refresh(): Promise<boolean>;
  /** Told about every shard this process opens, including the first ones: where per-shard workers start. */
  onShard(listener: (shard: Shard) => Promise<void> | void): Promise<void>;
  close(): Promise<void>;
}

/** A write was routed by a shard map older than the shard's fence: refresh and route again. */
export class StaleShardMapError extends Error {
  constructor(shard: string, seen: number, epoch: number) {
    super(`shard ${shard} moved keys at map version ${epoch}; this process routed by version ${seen}`);
    this.name = 'StaleShardMapError';
  }
}

/** The sharded keyspaces; each has its own fence row on every shard. */
export const KEYSPACES = ['orders', 'inventory'] as const;
export type Keyspace = (typeof KEYSPACES)[number];

/** Schema every sharded database carries besides the modules' own: the fences. */
export const shardFenceMigrations: Migration[] = [
  {
    id: '001-fence',
    sql: `
      create schema if not exists sharding;
      create table sharding.fence (keyspace text primary key, epoch integer not null);
      insert into sharding.fence (keyspace, epoch) values ('orders', 0), ('inventory', 0);`,
  },
];

/** The shard map, on the unsharded primary: the one place that says which shards exist, in order. */
export const shardMapMigrations: Migration[] = [
  {
    id: '001-shard-map',
    sql: `
      create schema if not exists sharding;
      create table sharding.shards (
        position integer primary key,
        name text not null unique,
        url text not null unique,
        added_at timestamptz not null default now()
      );
      create table sharding.map (id boolean primary key default true check (id), version integer not null);
      insert into sharding.map (version) values (0);`,
  },
];

export interface ShardMapEntry {
  position: number;
  name: string;
  url: string;
}

/** Reads the shard map: its version and its shards in position order (position = jump-hash bucket). */
export async function readShardMap(main: Queryable): Promise<{ version: number; shards: ShardMapEntry[] }> {
  const { rows: map } = await main.query<{ version: number }>('select version from sharding.map');
  const { rows } = await main.query<ShardMapEntry>('select position, name, url from sharding.shards order by position');
  return { version: map[0]?.version ?? 0, shards: rows };
}

/** Lists `urls` as shards `shard-0`… when the map is still empty (the first start of a sharded fleet). */
export async function seedShardMap(main: Database, urls: readonly string[]): Promise<void> {
  await main.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock(hashtext($1))', ['scalemart:shard-map']);
    if ((await readShardMap(tx)).shards.length > 0) return;
    for (const [position, url] of urls.entries()) {
      await tx.query('insert into sharding.shards (position, name, url) values ($1, $2, $3)', [position, `shard-${position}`, url]);
    }
    await tx.query('update sharding.map set version = 1');
  });
}

/** One shard: the unsharded database itself (the monolith stage). No fence, no map, no moves. */
export function createSingleShardSet(db: Database): ShardSet {
  const shard: Shard = { name: 'main', db };
  const set: ShardSet = {
    keyspace: () => set,
    version: () => 0,
    shards: () => [shard],
    shardFor: () => shard,
    write: (_key, work) => db.transaction((tx) => work(tx, shard)),
    writeOn: (_shard, work) => db.transaction(work),
    refresh: async () => false,
    onShard: async (listener) => void (await listener(shard)),
    close: async () => undefined,
  };
  return set;
}

export interface ShardSetOptions {
  /** The unsharded primary holding the shard map. */
  main: Database;
  /** Opens a shard's database (pool sizing, metrics) and brings its schema up to date. */
  open(entry: ShardMapEntry): Promise<Database>;
}

/**
 * The shards listed in the shard map on `main`, routed by jump hash over their positions, so that
 * adding a shard at the end moves only the keys the new shard takes.
 */
export async function createMappedShardSet(options: ShardSetOptions): Promise<ShardSet> {
  let version = -1;
  let shards: Shard[] = [];
  let strategy: HashStrategy | undefined;
  const byName = new Map<string, Shard>();
  const listeners: ((shard: Shard) => Promise<void> | void)[] = [];
  let refreshing: Promise<boolean> | undefined;

  async function load(): Promise<boolean> {
    const map = await readShardMap(options.main);
    if (map.version === version) return false;
    if (map.shards.length === 0) throw new Error('the shard map on the main database lists no shards');
    const opened: Shard[] = [];
    for (const entry of map.shards) {
      if (byName.has(entry.name)) continue;
      const shard = { name: entry.name, db: await options.open(entry) };
      byName.set(entry.name, shard);
      opened.push(shard);
    }
    shards = map.shards.map((entry) => byName.get(entry.name)!);
    strategy = createHashStrategy({ shards: shards.map((s) => s.name) });
    version = map.version;
    for (const shard of opened) for (const listener of listeners) await listener(shard);
    return true;
  }

  // Concurrent callers share one refresh.
  const refresh = () => (refreshing ??= load().finally(() => (refreshing = undefined)));

  async function writeOn<T>(keyspace: Keyspace, shard: Shard, work: (tx: Queryable) => Promise<T>): Promise<T> {
    const seen = version;
    return shard.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ epoch: number }>('select epoch from sharding.fence where keyspace = $1 for share', [keyspace]);
      const epoch = rows[0]?.epoch ?? 0;
      if (epoch > seen) throw new StaleShardMapError(shard.name, seen, epoch);
      return work(tx);
    });
  }

  const view = (keyspace: Keyspace): ShardSet => {
    const set: ShardSet = {
      keyspace: (name) => view(name),
      version: () => version,
      shards: () => shards,
      shardFor: (key) => byName.get(strategy!.shardFor(key))!,
      async write(key, work) {
        for (let attempt = 1; ; attempt++) {
          const shard = set.shardFor(key);
          try {
            return await writeOn(keyspace, shard, (tx) => work(tx, shard));
          } catch (error) {
            if (!(error instanceof StaleShardMapError) || attempt >= 5) throw error;
            await refresh();
          }
        }
      },
      writeOn: (shard, work) => writeOn(keyspace, shard, work),
      refresh,
      async onShard(listener) {
        listeners.push(listener);
        for (const shard of shards) await listener(shard);
      },
      async close() {
        await Promise.all(shards.map((s) => s.db.close()));
      },
    };
    return set;
  };
  await refresh();
  return view('orders');
}
