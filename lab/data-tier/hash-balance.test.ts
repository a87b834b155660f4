import { describe, expect, it } from 'vitest';
import { createHashStrategy } from '../../src/platform/db/sharding/hash.strategy.ts';
import { assignBuckets, generateKeys, hashKeys, measureBalance, measureMovement, runHashBalance } from './hash-balance.ts';

describe('hash-balance', () => {
  it('generates the same keys for the same seed, in both styles', () => {
    expect(generateKeys(3, 'order', 7)).toEqual(generateKeys(3, 'order', 7));
    expect(generateKeys(3, 'order', 7)).not.toEqual(generateKeys(3, 'order', 8));
    expect(generateKeys(1, 'order')[0]).toMatch(/^order:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(generateKeys(2, 'sku')).toEqual(['SKU-0000001', 'SKU-0000002']);
  });

  it('assigns buckets exactly as the hash strategy routes keys, so the figures describe the router', () => {
    const keys = generateKeys(2000);
    const names = Array.from({ length: 8 }, (_, i) => `s${i}`);
    const strategy = createHashStrategy({ shards: names });
    const buckets = assignBuckets(hashKeys(keys), 8);
    keys.forEach((key, i) => expect(strategy.shardFor(key)).toBe(names[buckets[i] as number]));
  });

  it('computes balance and movement figures that add up', () => {
    const hashed = hashKeys(generateKeys(20_000, 'sku'));
    const balance = measureBalance(hashed, 4);
    expect(balance.mean).toBe(5000);
    expect(balance.min).toBeLessThanOrEqual(5000);
    expect(balance.max).toBeGreaterThanOrEqual(5000);
    const movement = measureMovement(hashed, 4);
    expect(movement.fraction).toBeCloseTo(movement.moved / 20_000);
    expect(movement.ideal).toBeCloseTo(0.2);
    expect(movement.strayMoves).toBe(0);
  });

  it('passes its bars on a small run', () => {
    const result = runHashBalance({ keyCount: 50_000, shardCounts: [4, 8] });
    expect(result.balance.map((b) => b.shards)).toEqual([4, 8]);
    expect(result.pass).toBe(true);
  });
});
