import { CodedError } from '../../errors/coded-error.ts';

/** Stable codes of the shard router's errors; callers branch on `code`, never on the message. */
export type ShardingErrorCode =
  /** A strategy's options are inconsistent (unsorted ranges, duplicate shard names, …). */
  | 'SHARDING_INVALID_CONFIG'
  /** A lookup or assignment named a shard the strategy does not know. */
  | 'SHARDING_UNKNOWN_SHARD'
  /** Two strategies cannot be compared for a rebalance (not one shard appended). */
  | 'SHARDING_INVALID_REBALANCE';

export class ShardingError extends CodedError<ShardingErrorCode> {
  override name = 'ShardingError';
}
