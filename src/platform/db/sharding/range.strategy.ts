import { ShardingError } from './errors.ts';
import type { SyncShardStrategy } from './shard-strategy.ts';

export interface KeyRange {
  /** Exclusive upper bound: keys strictly below it (and at or above the previous bound) land here. `null` is +∞. */
  readonly upTo: string | null;
  readonly shard: string;
}

export interface RangeStrategyOptions {
  /** Ascending, strictly increasing bounds; exactly the last one is `null`. A shard may own several ranges. */
  readonly ranges: readonly KeyRange[];
}

export interface RangeStrategy extends SyncShardStrategy {
  readonly kind: 'range';
}

/**
 * Ordered key ranges, as split points: [−∞, b1) → s1, [b1, b2) → s2, …, [bn, +∞) → last.
 * Half-open ranges so that a bound is itself the first key of the next range, like Bigtable and
 * Vitess split points. Keys compare by UTF-16 code unit (JavaScript `<`), which matches
 * PostgreSQL's "C" collation for ASCII keys, not a locale collation; keep sharded keys ASCII.
 */
export function createRangeStrategy(options: RangeStrategyOptions): RangeStrategy {
  const ranges = options.ranges.map((r) => ({ upTo: r.upTo, shard: r.shard }));
  validate(ranges);
  const bounds = ranges.slice(0, -1).map((r) => r.upTo as string);
  const owners = ranges.map((r) => r.shard);
  const names = Object.freeze([...new Set(owners)]);
  return {
    kind: 'range',
    shardFor(key: string): string {
      // Binary search for the first bound strictly greater than the key.
      let low = 0;
      let high = bounds.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        if (key < (bounds[mid] as string)) high = mid;
        else low = mid + 1;
      }
      return owners[low] as string;
    },
    shards: () => names,
  };
}

function validate(ranges: readonly KeyRange[]): void {
  const fail = (message: string): never => {
    throw new ShardingError('SHARDING_INVALID_CONFIG', `range strategy: ${message}`);
  };
  if (ranges.length === 0) fail('at least one range is required');
  ranges.forEach((range, i) => {
    if (typeof range.shard !== 'string' || range.shard.length === 0) fail(`range ${i} has no shard name`);
    const last = i === ranges.length - 1;
    if (last && range.upTo !== null) fail('the last range must end at null (+∞)');
    if (!last && typeof range.upTo !== 'string') fail(`only the last range may end at null; range ${i} does`);
    const previous = ranges[i - 1];
    if (!last && previous !== undefined && (range.upTo as string) <= (previous.upTo as string)) {
      fail(`bounds must strictly increase: "${String(previous.upTo)}" then "${String(range.upTo)}"`);
    }
  });
}
