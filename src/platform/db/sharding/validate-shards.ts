import { ShardingError } from './errors.ts';

/** Copies and checks a list of shard names: non-empty, each a non-empty string, no duplicates. */
export function validateShardNames(names: readonly string[], what: string): readonly string[] {
  if (names.length === 0) throw new ShardingError('SHARDING_INVALID_CONFIG', `${what}: at least one shard is required`);
  const seen = new Set<string>();
  for (const name of names) {
    if (typeof name !== 'string' || name.length === 0) {
      throw new ShardingError('SHARDING_INVALID_CONFIG', `${what}: shard names must be non-empty strings`);
    }
    if (seen.has(name)) throw new ShardingError('SHARDING_INVALID_CONFIG', `${what}: duplicate shard "${name}"`);
    seen.add(name);
  }
  return Object.freeze([...names]);
}
