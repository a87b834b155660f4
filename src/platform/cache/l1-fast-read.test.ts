import diagnostics from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryCache } from './bentocache.adapter.ts';
import type { CacheObserver } from './cache.ts';

/** Counts what the cache reports, and which reads ran bentocache (the tracing channel sees only those). */
function observed() {
  const counts = { l1: 0, misses: 0, loads: 0 };
  const observer: CacheObserver = {
    hit: (tier) => void (tier === 'l1' && counts.l1++),
    miss: () => void counts.misses++,
    loaded: () => void counts.loads++,
    evicted: () => undefined,
  };
  return { counts, cache: createMemoryCache({ defaultTtlSeconds: 60, maxItems: 100, jitter: 0, observer }) };
}

describe('L1 hits read without bentocache', () => {
  const subscribers: (() => void)[] = [];
  afterEach(() => subscribers.splice(0).forEach((unsubscribe) => unsubscribe()));

  /** Operations bentocache ran, from its own tracing channel. */
  function traceBento() {
    const operations: string[] = [];
    const handlers = { start: (message: unknown) => void operations.push((message as { operation: string }).operation) };
    diagnostics.tracingChannel('bentocache.cache.operation').subscribe(handlers as never);
    subscribers.push(() => diagnostics.tracingChannel('bentocache.cache.operation').unsubscribe(handlers as never));
    return operations;
  }

  it('hands back the same object on a hit, counted as an L1 hit, without a bentocache call', async () => {
    const { cache, counts } = observed();
    const value = { id: 1 };
    await cache.getOrSet('k', async () => value);
    expect(counts).toEqual({ l1: 0, misses: 1, loads: 1 });
    expect(await cache.getOrSet('k', async () => ({ id: 2 }))).toBe(value);
    expect(await cache.namespace('n').getOrSet('k', async () => 'other')).toBe('other');
    expect(counts).toEqual({ l1: 1, misses: 2, loads: 2 });
    await cache.close();
  });

  it('leaves a tagged entry to bentocache once its tag is invalidated, and serves it again after the reload', async () => {
    const { cache, counts } = observed();
    await cache.getOrSet('page', async () => 'v1', { tags: ['t'] });
    expect(await cache.getOrSet('page', async () => 'unused', { tags: ['t'] })).toBe('v1');
    await sleep(2); // a stamp equal to the creation time counts as invalidated; make the order plain
    await cache.deleteByTags(['t']);
    // Likewise a reload within the invalidation's millisecond is left to bentocache (stale-safe, not a fast hit).
    await sleep(2);
    expect(await cache.getOrSet('page', async () => 'v2', { tags: ['t'] })).toBe('v2');
    const hits = counts.l1;
    expect(await cache.getOrSet('page', async () => 'unused', { tags: ['t'] })).toBe('v2');
    expect(counts.l1).toBe(hits + 1);
    await cache.close();
  });

  it('leaves expired and deleted entries to bentocache', async () => {
    const { cache } = observed();
    await cache.getOrSet('short', async () => 'v1', { ttlSeconds: 0.02 });
    await sleep(40);
    expect(await cache.getOrSet('short', async () => 'v2', { ttlSeconds: 0.02 })).toBe('v2');
    await cache.set('gone', 'x');
    await cache.delete('gone');
    expect(await cache.getOrSet('gone', async () => 'reloaded')).toBe('reloaded');
    await cache.close();
  });

  it('steps aside while bentocache is traced, so traces stay complete', async () => {
    const { cache } = observed();
    await cache.getOrSet('traced', async () => 'v');
    const operations = traceBento();
    expect(await cache.getOrSet('traced', async () => 'unused')).toBe('v');
    expect(operations).toEqual(['getOrSet']);
    await cache.close();
  });
});

describe('peek: a fresh L1 value, synchronously', () => {
  it('answers only what getOrSet would answer from L1 at once, counts it as a hit, and never loads', async () => {
    const { counts, cache } = observed();
    const products = cache.namespace('p');
    expect(products.peek!('a')).toBeUndefined();
    expect(counts).toEqual({ l1: 0, misses: 0, loads: 0 });
    const value = await products.getOrSet('a', async () => ({ name: 'lamp' }));
    expect(products.peek!('a')).toBe(value);
    expect(counts.l1).toBe(1);
    await products.delete('a');
    expect(products.peek!('a')).toBeUndefined();
    expect(counts.loads).toBe(1);
  });
});
