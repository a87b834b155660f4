import { ShardingError } from './errors.ts';
import type { HashStrategy } from './hash.strategy.ts';

export interface KeyMove {
  readonly key: string;
  readonly from: string;
  readonly to: string;
}

export interface RebalancePlan {
  /** The shard appended by `to`. */
  readonly added: string;
  /** Keys whose owner changes, in input order: copy each to `to`, switch ownership, then delete from `from`. */
  readonly moves: readonly KeyMove[];
  /** How many keys were examined. */
  readonly scanned: number;
}

/**
 * Which keys move when a hash-sharded table grows by one shard. `to` must list exactly the shards of
 * `from` in the same order plus one at the end: jump hash keeps every other key in place only then.
 * With jump hash every move targets the new shard; the plan still records `to` per key so that the
 * copy step never has to assume it.
 */
export function planRebalance(from: HashStrategy, to: HashStrategy, keys: Iterable<string>): RebalancePlan {
  const before = from.shards();
  const after = to.shards();
  const appendsOne = after.length === before.length + 1 && before.every((name, i) => after[i] === name);
  if (!appendsOne) {
    throw new ShardingError(
      'SHARDING_INVALID_REBALANCE',
      `rebalance: target shards [${after.join(', ')}] must be [${before.join(', ')}] plus one shard at the end`,
    );
  }
  const moves: KeyMove[] = [];
  let scanned = 0;
  for (const key of keys) {
    scanned++;
    const source = from.shardFor(key);
    const target = to.shardFor(key);
    if (source !== target) moves.push({ key, from: source, to: target });
  }
  return { added: after[after.length - 1] as string, moves, scanned };
}
