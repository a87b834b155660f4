import { describe, expect, it } from 'vitest';
import { ShardingError } from './errors.ts';
import { createRangeStrategy } from './range.strategy.ts';

describe('createRangeStrategy', () => {
  const strategy = createRangeStrategy({
    ranges: [
      { upTo: 'SKU-1000000', shard: 'a' },
      { upTo: 'SKU-2000000', shard: 'b' },
      { upTo: 'SKU-3000000', shard: 'a' },
      { upTo: null, shard: 'c' },
    ],
  });

  it('treats each bound as exclusive: the bound itself opens the next range', () => {
    expect(strategy.shardFor('SKU-0999999')).toBe('a');
    expect(strategy.shardFor('SKU-1000000')).toBe('b');
    expect(strategy.shardFor('SKU-1999999')).toBe('b');
    expect(strategy.shardFor('SKU-2000000')).toBe('a');
    expect(strategy.shardFor('SKU-3000000')).toBe('c');
  });

  it('covers the extremes: the empty key and keys past every bound', () => {
    expect(strategy.shardFor('')).toBe('a');
    expect(strategy.shardFor('ZZZ')).toBe('c');
    expect(strategy.shardFor('\uffff')).toBe('c');
  });

  it('lists each shard once, in order of first appearance', () => {
    expect(strategy.shards()).toEqual(['a', 'b', 'c']);
    expect(strategy.kind).toBe('range');
  });

  it('accepts a single unbounded range', () => {
    expect(createRangeStrategy({ ranges: [{ upTo: null, shard: 'only' }] }).shardFor('anything')).toBe('only');
  });

  it.each([
    ['no ranges', []],
    ['a last bound that is not null', [{ upTo: 'm', shard: 'a' }]],
    ['null before the end', [{ upTo: null, shard: 'a' }, { upTo: null, shard: 'b' }]],
    ['unsorted bounds', [{ upTo: 'm', shard: 'a' }, { upTo: 'f', shard: 'b' }, { upTo: null, shard: 'c' }]],
    ['a repeated bound', [{ upTo: 'm', shard: 'a' }, { upTo: 'm', shard: 'b' }, { upTo: null, shard: 'c' }]],
    ['an empty shard name', [{ upTo: null, shard: '' }]],
  ])('rejects %s', (_label, ranges) => {
    expect(() => createRangeStrategy({ ranges })).toThrow(ShardingError);
  });
});
