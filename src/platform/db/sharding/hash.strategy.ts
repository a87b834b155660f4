import { jumpHash, keyHash64 } from './jump-hash.ts';
import type { SyncShardStrategy } from './shard-strategy.ts';
import { validateShardNames } from './validate-shards.ts';

export interface HashStrategyOptions {
  /**
   * Shard names; a name's position is its jump-hash bucket, so the order is part of the data
   * layout: add new shards only at the end, never reorder.
   */
  readonly shards: readonly string[];
}

export interface HashStrategy extends SyncShardStrategy {
  readonly kind: 'hash';
}

/**
 * Consistent hashing by jump hash over the first 64 bits of SHA-256(key).
 *
 * Jump hash rather than a ring with virtual nodes: no memory per shard, near-perfect balance
 * without tuning a vnode count, and appending shard n+1 moves only the ~1/(n+1) of keys that the
 * new shard takes, all of them to it. The price: a shard can only be added or retired at the end
 * of the list. That fits how orders and inventory grow (we add capacity, we rarely shrink); a
 * failed shard is replaced under the same name (failover to its replica), not removed. Should
 * arbitrary removal ever be needed, a ring is the strategy to add beside this one.
 */
export function createHashStrategy(options: HashStrategyOptions): HashStrategy {
  const names = validateShardNames(options.shards, 'hash strategy');
  return {
    kind: 'hash',
    shardFor(key: string): string {
      const { hi, lo } = keyHash64(key);
      // jumpHash returns an index in [0, names.length), so the lookup always hits.
      return names[jumpHash(hi, lo, names.length)] as string;
    },
    shards: () => names,
  };
}
