/**
 * How a key (an order id, a SKU) maps to the shard that owns it.
 *
 * Why `shardFor` returns `string | Promise<string>` rather than a Promise everywhere: hash and
 * range are pure arithmetic on the hot path of every sharded query, while only the directory needs
 * I/O (a lookup table on the unsharded primary). Code holding the generic `ShardStrategy` must
 * `await` the result (the union type makes the compiler insist, and `await` always defers, so a
 * sync answer never runs a caller's continuation early). Code that knows it has a `HashStrategy` or
 * `RangeStrategy` gets a plain `string` and can plan rebalances or route a million keys in a
 * benchmark without allocating a Promise per key.
 */
export interface ShardStrategy {
  readonly kind: 'hash' | 'range' | 'directory';
  /** The shard that owns `key`; always one of `shards()`. */
  shardFor(key: string): Promise<string> | string;
  /** Every shard this strategy can answer, in configuration order. */
  shards(): readonly string[];
}

/** A strategy that answers without I/O. */
export interface SyncShardStrategy extends ShardStrategy {
  readonly kind: 'hash' | 'range';
  shardFor(key: string): string;
}
