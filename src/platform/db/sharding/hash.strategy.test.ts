import { describe, expect, it } from 'vitest';
import { ShardingError } from './errors.ts';
import { createHashStrategy } from './hash.strategy.ts';

const shardNames = (n: number): string[] => Array.from({ length: n }, (_, i) => `shard-${i}`);
const keys = (count: number): string[] => Array.from({ length: count }, (_, i) => `order:${i.toString(16).padStart(8, '0')}`);

describe('createHashStrategy', () => {
  it('gives the same shard for a key every time and in every instance', () => {
    const a = createHashStrategy({ shards: shardNames(8) });
    const b = createHashStrategy({ shards: shardNames(8) });
    for (const key of keys(1000)) expect(a.shardFor(key)).toBe(b.shardFor(key));
    expect(a.shardFor('SKU-0000001')).toBe(a.shardFor('SKU-0000001'));
  });

  it('answers only shards it was given and uses all of them', () => {
    const names = shardNames(5);
    const strategy = createHashStrategy({ shards: names });
    const seen = new Set(keys(2000).map((key) => strategy.shardFor(key)));
    expect([...seen].sort()).toEqual(names);
    expect(strategy.shards()).toEqual(names);
    expect(strategy.kind).toBe('hash');
  });

  it.each([4, 8, 16])('moves about 1/(n+1) of 100k keys, all to the new shard, when a shard is appended to %i', (n) => {
    const before = createHashStrategy({ shards: shardNames(n) });
    const after = createHashStrategy({ shards: shardNames(n + 1) });
    const sample = keys(100_000);
    let moved = 0;
    for (const key of sample) {
      const target = after.shardFor(key);
      if (before.shardFor(key) !== target) {
        moved++;
        expect(target).toBe(`shard-${n}`);
      }
    }
    const expected = 1 / (n + 1);
    expect(Math.abs(moved / sample.length - expected) / expected).toBeLessThan(0.1);
  });

  it('rejects an empty or duplicated shard list', () => {
    expect(() => createHashStrategy({ shards: [] })).toThrow(ShardingError);
    expect(() => createHashStrategy({ shards: ['a', 'b', 'a'] })).toThrow(/duplicate shard "a"/);
  });

  it('copies its options, so later edits to the caller’s array change nothing', () => {
    const names = shardNames(3);
    const strategy = createHashStrategy({ shards: names });
    names.push('shard-3');
    expect(strategy.shards()).toHaveLength(3);
  });
});
