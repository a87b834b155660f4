import { LRUCache } from 'lru-cache';
import { ShardingError } from './errors.ts';
import type { ShardStrategy } from './shard-strategy.ts';
import { validateShardNames } from './validate-shards.ts';

export interface DirectoryStrategyOptions {
  /** Every shard a lookup or assignment may name; an answer outside it is rejected. */
  readonly shards: readonly string[];
  /** The key's recorded shard, or null when it has none yet (later: a table on the unsharded primary). */
  readonly lookup: (key: string) => Promise<string | null>;
  /**
   * Records and returns a shard for a key that has none. It must be atomic and idempotent across
   * processes (e.g. `INSERT … ON CONFLICT DO NOTHING` then read back), because two instances can
   * miss the same new key at once; this strategy only coalesces misses within one process.
   */
  readonly assign: (key: string) => Promise<string>;
  /** Entries kept in the in-process LRU. Default 10 000. */
  readonly cacheSize?: number;
}

export interface DirectoryStrategy extends ShardStrategy {
  readonly kind: 'directory';
  shardFor(key: string): Promise<string>;
  /** Forgets the cached owner of `key`, e.g. after the key was moved; the next call looks it up again. */
  invalidate(key: string): void;
}

const DEFAULT_CACHE_SIZE = 10_000;

/**
 * A lookup table per key, for keys that must be placed by hand (a large tenant on its own shard).
 * Owners are cached in a bounded LRU because an owner changes only by a deliberate move, which
 * calls `invalidate` on every instance (over the cache bus, later). Concurrent misses for one key
 * share a single lookup.
 */
export function createDirectoryStrategy(options: DirectoryStrategyOptions): DirectoryStrategy {
  const names = validateShardNames(options.shards, 'directory strategy');
  const known = new Set(names);
  const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
  if (!Number.isInteger(cacheSize) || cacheSize < 1) {
    throw new ShardingError('SHARDING_INVALID_CONFIG', `directory strategy: cacheSize must be a positive integer, got ${cacheSize}`);
  }
  const { lookup, assign } = options;
  const cache = new LRUCache<string, string>({ max: cacheSize });
  const inFlight = new Map<string, Promise<string>>();

  async function resolveUncached(key: string): Promise<string> {
    const shard = (await lookup(key)) ?? (await assign(key));
    if (!known.has(shard)) {
      throw new ShardingError('SHARDING_UNKNOWN_SHARD', `directory strategy: key "${key}" maps to unknown shard "${shard}"`);
    }
    return shard;
  }

  return {
    kind: 'directory',
    shardFor(key: string): Promise<string> {
      const cached = cache.get(key);
      if (cached !== undefined) return Promise.resolve(cached);
      const pending = inFlight.get(key);
      if (pending !== undefined) return pending;
      const resolution = resolveUncached(key).then(
        (shard) => {
          // Cache only if no invalidate() came while the lookup ran: its answer may predate the move.
          if (inFlight.get(key) === resolution) {
            inFlight.delete(key);
            cache.set(key, shard);
          }
          return shard;
        },
        (error: unknown) => {
          if (inFlight.get(key) === resolution) inFlight.delete(key);
          throw error;
        },
      );
      inFlight.set(key, resolution);
      return resolution;
    },
    shards: () => names,
    invalidate(key: string): void {
      cache.delete(key);
      inFlight.delete(key);
    },
  };
}
