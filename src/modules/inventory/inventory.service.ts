import type { Cache } from '../../platform/cache/cache.ts';
import { sqlStateOf, SqlState, type Database } from '../../platform/db/database.ts';
import type { InventoryApi, ReserveResult, StockLevel, StockLine } from './contract.ts';
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

/**
 * Stock entries are dropped or replaced on every change (reserve, commit, release, set), so their
 * TTL is only the cache's safety net: the cache's default, not a short one. A short TTL made every
 * entry loaded in one burst expire in one burst, and the refresh storm halved read throughput.
 */
export function createInventoryService(db: Database, cache: Cache): InventoryApi {
  const repository = createInventoryRepository(db);
  const stockCache = cache.namespace('inventory:v1:stock');
  const listeners: ((skus: readonly string[]) => Promise<void>)[] = [];
  const forget = async (skus: readonly string[]) => {
    await Promise.all(skus.map((sku) => stockCache.delete(sku)));
    await Promise.all(listeners.map((listener) => listener(skus)));
  };

  async function settle(reservationId: string, move: Settlement): Promise<boolean> {
    const skus = await db.transaction(async (tx) => {
      const txRepository = createInventoryRepository(tx);
      const lines = await txRepository.reservationLines(reservationId, true);
      const open = lines.filter((line) => line.status === SETTLEMENTS[move].from);
      if (open.length === 0) return [];
      await txRepository.settle(reservationId, move);
      return open.map((line) => line.sku);
    });
    await forget(skus);
    return skus.length > 0;
  }

  return {
    async getStock(sku) {
      const level = await stockCache.getOrSet(sku, async () => (await repository.find([sku]))[0] ?? null);
      return level;
    },

    async getStockMany(skus) {
      const levels = await Promise.all(skus.map((sku) => this.getStock(sku)));
      return new Map(levels.filter((l): l is StockLevel => l !== null).map((l) => [l.sku, l]));
    },

    async setStock(sku, available) {
      const level = await repository.upsert(sku, available);
      await stockCache.set(sku, level);
      await Promise.all(listeners.map((listener) => listener([sku])));
      return level;
    },

    async reserve(reservationId, lines) {
      const wanted = normalise(lines);
      try {
        const result = await db.transaction(async (tx): Promise<ReserveResult> => {
          const txRepository = createInventoryRepository(tx);
          if ((await txRepository.reservationLines(reservationId, true)).length > 0) return { ok: true, reservationId };
          for (const line of wanted) {
            const outcome = await txRepository.take(line);
            if (outcome !== 'taken') throw new Refusal({ ok: false, reason: outcome === 'short' ? 'OUT_OF_STOCK' : 'UNKNOWN_SKU', sku: line.sku });
          }
          await txRepository.recordReservation(reservationId, wanted);
          return { ok: true, reservationId };
        });
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
      await repository.upsertMany(levels);
      await forget(levels.map((l) => l.sku));
    },
  };
}
