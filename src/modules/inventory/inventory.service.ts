import DataLoader from 'dataloader';
import type { Cache } from '../../platform/cache/cache.ts';
import { sqlStateOf, SqlState, type Queryable } from '../../platform/db/database.ts';
import { StaleShardMapError, type Shard, type ShardSet } from '../../platform/db/sharding/shard-set.ts';
import { appendToOutbox } from '../../platform/events/outbox.ts';
import { InventoryEvents, type InventoryApi, type InventoryEventCatalogue, type ReserveResult, type StockLevel, type StockLine } from './contract.ts';
import { createInventoryRepository, SETTLEMENTS, type Settlement } from './inventory.repository.ts';

/** Thrown inside a reservation transaction to roll it back with a business outcome. */
class Refusal extends Error {
  readonly result: ReserveResult;
  constructor(result: ReserveResult) {
    super('reservation refused');
    this.result = result;
  }
}

/** Same SKU twice in one order becomes one line; sorted so concurrent reservations lock rows in one order (no deadlocks). */
function normalise(lines: readonly StockLine[]): StockLine[] {
  const totals = new Map<string, number>();
  for (const line of lines) totals.set(line.sku, (totals.get(line.sku) ?? 0) + line.quantity);
  return [...totals].sort(([a], [b]) => (a < b ? -1 : 1)).map(([sku, quantity]) => ({ sku, quantity }));
}

/** Runs `work` again on a fresh shard map when a rebalance moved keys under it (every step is idempotent). */
async function onCurrentMap<T>(shards: ShardSet, work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof StaleShardMapError) || attempt >= 5) throw error;
      await shards.refresh();
    }
  }
}

function groupByShard<L extends { sku: string }>(shards: ShardSet, lines: readonly L[]): Map<Shard, L[]> {
  const groups = new Map<Shard, L[]>();
  for (const line of lines) {
    const shard = shards.shardFor(line.sku);
    groups.set(shard, [...(groups.get(shard) ?? []), line]);
  }
  return groups;
}

export interface InventoryServiceOptions {
  /** Told when dropping cached stock, or a listener of `onStockChanged`, failed after a committed change. */
  onChangeError?(error: unknown, skus: readonly string[]): void;
  /**
   * Publishes `inventory.stock.changed` for every SKU a change touches, in the change's transaction
   * (the outbox of the SKU's shard): how a catalog in another process learns that its cached pages
   * show old stock. `afterCommit` wakes that shard's relay. Off, only `onStockChanged` listeners hear.
   */
  publishChanges?: { afterCommit(shard: Shard): void };
}

/**
 * Stock lives on the shard that owns its SKU. A reservation spanning shards is one transaction per
 * shard, taken in shard order; a refusal on one undoes the others, so a refusal holds nothing
 * anywhere. Settling (commit, release, return) visits every shard, since a reservation id does not
 * say where its lines are.
 *
 * Stock entries are dropped or replaced on every change (reserve, commit, release, set), so their
 * TTL is only the cache's safety net: the cache's default, not a short one. A short TTL made every
 * entry loaded in one burst expire in one burst, and the refresh storm halved read throughput.
 */
export function createInventoryService(shards: ShardSet, cache: Cache, options: InventoryServiceOptions = {}): InventoryApi {
  const stockCache = cache.namespace('inventory:v1:stock');
  const listeners: ((skus: readonly string[]) => Promise<void>)[] = [];
  const onChangeError = options.onChangeError ?? (() => {});
  /**
   * After a change committed: the listeners (the catalog's cached views) are told. What fails here
   * is reported, never thrown: the change is done, and a caller told otherwise would retry or give
   * up on stock that is already held. An entry that was not dropped lives until its TTL.
   */
  const tell = async (skus: readonly string[]) => {
    const results = await Promise.allSettled(listeners.map((listener) => listener(skus)));
    for (const result of results) if (result.status === 'rejected') onChangeError(result.reason, skus);
  };
  const publish = options.publishChanges;
  /** In a change's transaction: the SKUs it touched, for other processes (when publishing). */
  const announce = async (tx: Queryable, skus: readonly string[]) => {
    if (!publish || skus.length === 0) return;
    const levels = await createInventoryRepository(tx).find(skus);
    await appendToOutbox<InventoryEventCatalogue>(tx, levels.map(({ sku, version }) => ({ type: InventoryEvents.stockChanged, key: sku, payload: { sku, version } })));
  };
  /** A write on one shard changing the SKUs `work` returns, announced in its transaction; the shard's relay is woken after commit. */
  async function changeOn(shard: Shard, work: (tx: Queryable) => Promise<readonly string[]>): Promise<readonly string[]> {
    const changed = await shards.writeOn(shard, async (tx) => {
      const skus = await work(tx);
      await announce(tx, skus);
      return skus;
    });
    if (changed.length > 0) publish?.afterCommit(shard);
    return changed;
  }
  /** A write of one SKU on its owner (again after a rebalance moved it), announced if `changed` says it changed the stock. */
  async function changeSku<T>(sku: string, work: (tx: Queryable) => Promise<T>, changed: (value: T) => boolean = () => true): Promise<T> {
    return onCurrentMap(shards, async () => {
      let value: T | undefined;
      await changeOn(shards.shardFor(sku), async (tx) => {
        value = await work(tx);
        return changed(value) ? [sku] : [];
      });
      return value as T;
    });
  }
  const forget = async (skus: readonly string[]) => {
    const dropped = await Promise.allSettled(skus.map((sku) => stockCache.delete(sku)));
    for (const result of dropped) if (result.status === 'rejected') onChangeError(result.reason, skus);
    await tell(skus);
  };

  /** Each SKU's level, one query per shard; a SKU no shard has is absent. */
  async function findStock(skus: readonly string[]): Promise<Map<string, StockLevel>> {
    const found = new Map<string, StockLevel>();
    await Promise.all([...groupByShard(shards, skus.map((sku) => ({ sku })))].map(async ([shard, lines]) => {
      for (const level of await createInventoryRepository(shard.db).find(lines.map((line) => line.sku))) found.set(level.sku, level);
    }));
    // A miss may mean the SKU just moved to a shard this process does not route to yet.
    const missing = skus.filter((sku) => !found.has(sku));
    if (missing.length > 0 && (await shards.refresh())) for (const [sku, level] of await findStock(missing)) found.set(sku, level);
    return found;
  }

  /**
   * Stock reads that miss in the same tick (a list page's products, or every read with caching
   * off) go out together: one query per shard instead of one per SKU. The cache port still holds
   * the values and its stampede lock still guards each key; the loader keeps nothing (cache: false).
   */
  const stockLoader = new DataLoader<string, StockLevel | null>(async (skus) => {
    const found = await findStock(skus);
    return skus.map((sku) => found.get(sku) ?? null);
  }, { cache: false });

  async function settle(reservationId: string, move: Settlement): Promise<boolean> {
    const skus = await onCurrentMap(shards, async () => {
      const settled = await Promise.all(shards.shards().map((shard) => changeOn(shard, async (tx) => {
        const repository = createInventoryRepository(tx);
        const open = (await repository.reservationLines(reservationId, true)).filter((line) => line.status === SETTLEMENTS[move].from);
        if (open.length > 0) await repository.settle(reservationId, move);
        return open.map((line) => line.sku);
      })));
      return settled.flat();
    });
    await forget(skus);
    return skus.length > 0;
  }

  /** Takes the lines of one shard not yet held under the id (their SKUs); refuses if the id's hold there was released. */
  async function reserveOn(tx: Queryable, reservationId: string, lines: StockLine[]): Promise<string[]> {
    const repository = createInventoryRepository(tx);
    const held = new Map((await repository.reservationLines(reservationId, true)).map((line) => [line.sku, line.status]));
    const missing = lines.filter((line) => !held.has(line.sku));
    for (const line of missing) {
      const outcome = await repository.take(line);
      if (outcome !== 'taken') throw new Refusal({ ok: false, reason: outcome === 'short' ? 'OUT_OF_STOCK' : 'UNKNOWN_SKU', sku: line.sku });
    }
    if (missing.length > 0) await repository.recordReservation(reservationId, missing);
    return missing.map((line) => line.sku);
  }

  async function reserveAll(reservationId: string, wanted: StockLine[]): Promise<ReserveResult> {
    const done: { shard: Shard; skus: readonly string[] }[] = [];
    try {
      for (const [shard, lines] of groupByShard(shards, wanted)) {
        await changeOn(shard, (tx) => reserveOn(tx, reservationId, lines));
        done.push({ shard, skus: lines.map((line) => line.sku) });
      }
      return { ok: true, reservationId };
    } catch (error) {
      // Holds taken on other shards go back, and their rows with them: a later call decides afresh.
      if (error instanceof Refusal) {
        await Promise.all(done.map(({ shard, skus }) => changeOn(shard, async (tx) => {
          await createInventoryRepository(tx).undoReservation(reservationId);
          return skus;
        })));
      }
      throw error;
    }
  }

  return {
    getStock: (sku) => stockCache.getOrSet(sku, () => stockLoader.load(sku)),

    async getStockMany(skus) {
      const levels = await Promise.all(skus.map((sku) => this.getStock(sku)));
      return new Map(levels.filter((l): l is StockLevel => l !== null).map((l) => [l.sku, l]));
    },

    async setStock(sku, available) {
      const level = await changeSku(sku, (tx) => createInventoryRepository(tx).upsert(sku, available));
      await stockCache.set(sku, level).catch((error: unknown) => onChangeError(error, [sku]));
      await tell([sku]);
      return level;
    },

    async initStock(sku, available) {
      const inserted = await changeSku(sku, (tx) => createInventoryRepository(tx).insertIfAbsent(sku, available), (level) => level !== null);
      // It had stock: that stands (the caller learns what it is).
      if (!inserted) return (await findStock([sku])).get(sku)!;
      await stockCache.set(sku, inserted).catch((error: unknown) => onChangeError(error, [sku]));
      await tell([sku]);
      return inserted;
    },

    async reserve(reservationId, lines) {
      const wanted = normalise(lines);
      try {
        const result = await onCurrentMap(shards, () => reserveAll(reservationId, wanted));
        await forget(wanted.map((line) => line.sku));
        return result;
      } catch (error) {
        if (error instanceof Refusal) return error.result;
        // The same reservation id raced itself on a server with real concurrency: the other call holds it.
        if (sqlStateOf(error) === SqlState.uniqueViolation) return { ok: true, reservationId };
        throw error;
      }
    },

    commit: (reservationId) => settle(reservationId, 'commit'),
    release: (reservationId) => settle(reservationId, 'release'),
    returnStock: (reservationId) => settle(reservationId, 'return'),

    onStockChanged: (listener) => void listeners.push(listener),

    async importStock(levels) {
      await onCurrentMap(shards, async () => {
        for (const [shard, group] of groupByShard(shards, levels)) {
          await changeOn(shard, async (tx) => {
            await createInventoryRepository(tx).upsertMany(group);
            return group.map((level) => level.sku);
          });
        }
      });
      await forget(levels.map((l) => l.sku));
    },
  };
}
