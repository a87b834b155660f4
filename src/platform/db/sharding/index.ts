// The shard router's public surface; jump-hash and validation helpers stay private to the folder.
export type { ShardStrategy, SyncShardStrategy } from './shard-strategy.ts';
export { ShardingError, type ShardingErrorCode } from './errors.ts';
export { createHashStrategy, type HashStrategy, type HashStrategyOptions } from './hash.strategy.ts';
export { createRangeStrategy, type KeyRange, type RangeStrategy, type RangeStrategyOptions } from './range.strategy.ts';
export {
  createDirectoryStrategy,
  type DirectoryStrategy,
  type DirectoryStrategyOptions,
} from './directory.strategy.ts';
export { planRebalance, type KeyMove, type RebalancePlan } from './plan-rebalance.ts';
export {
  scatterGather,
  type ScatterGatherOptions,
  type ScatterGatherResult,
  type ShardFailure,
} from './scatter-gather.ts';
