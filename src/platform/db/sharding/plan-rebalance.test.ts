import { describe, expect, it } from 'vitest';
import { createHashStrategy } from './hash.strategy.ts';
import { planRebalance } from './plan-rebalance.ts';

const keys = (count: number): string[] => Array.from({ length: count }, (_, i) => `SKU-${String(i).padStart(7, '0')}`);

describe('planRebalance', () => {
  const from = createHashStrategy({ shards: ['s0', 's1', 's2', 's3'] });
  const to = createHashStrategy({ shards: ['s0', 's1', 's2', 's3', 's4'] });

  it('lists exactly the keys whose owner changes, each from its old owner to the new shard', () => {
    const sample = keys(20_000);
    const plan = planRebalance(from, to, sample);
    expect(plan.added).toBe('s4');
    expect(plan.scanned).toBe(sample.length);
    const moved = new Set(plan.moves.map((m) => m.key));
    for (const key of sample) {
      expect(moved.has(key)).toBe(from.shardFor(key) !== to.shardFor(key));
    }
    for (const move of plan.moves) {
      expect(move.to).toBe('s4');
      expect(move.from).toBe(from.shardFor(move.key));
    }
    expect(Math.abs(plan.moves.length / sample.length - 1 / 5)).toBeLessThan(0.02);
  });

  it('keeps the input order and reads any iterable once', () => {
    function* generate() {
      yield* keys(500);
    }
    const plan = planRebalance(from, to, generate());
    const order = plan.moves.map((m) => m.key);
    expect(order).toEqual([...order].sort());
    expect(plan.scanned).toBe(500);
  });

  it('plans nothing for no keys', () => {
    expect(planRebalance(from, to, [])).toEqual({ added: 's4', moves: [], scanned: 0 });
  });

  it.each([
    ['the same shards', ['s0', 's1', 's2', 's3']],
    ['two more shards', ['s0', 's1', 's2', 's3', 's4', 's5']],
    ['a reordered list', ['s1', 's0', 's2', 's3', 's4']],
    ['a shard inserted in the middle', ['s0', 's1', 'new', 's2', 's3']],
  ])('refuses %s, where jump hash would move more than the new shard’s share', (_label, shards) => {
    expect(() => planRebalance(from, createHashStrategy({ shards }), ['k'])).toThrow(
      expect.objectContaining({ code: 'SHARDING_INVALID_REBALANCE' }),
    );
  });
});
