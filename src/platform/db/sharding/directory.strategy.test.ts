import { describe, expect, it } from 'vitest';
import { createDirectoryStrategy } from './directory.strategy.ts';
import { ShardingError } from './errors.ts';

/** An in-memory directory table that counts its queries. */
function createFakeDirectory(initial: Record<string, string> = {}) {
  const table = new Map(Object.entries(initial));
  const calls = { lookup: 0, assign: 0 };
  return {
    table,
    calls,
    lookup: async (key: string) => {
      calls.lookup++;
      return table.get(key) ?? null;
    },
    assign: async (key: string) => {
      calls.assign++;
      table.set(key, 'new-tenants');
      return 'new-tenants';
    },
  };
}

const shards = ['big-tenant', 'new-tenants', 'elsewhere'];

describe('createDirectoryStrategy', () => {
  it('looks a key up once, then answers from the cache', async () => {
    const dir = createFakeDirectory({ 'tenant:acme': 'big-tenant' });
    const strategy = createDirectoryStrategy({ shards, lookup: dir.lookup, assign: dir.assign });
    expect(await strategy.shardFor('tenant:acme')).toBe('big-tenant');
    expect(await strategy.shardFor('tenant:acme')).toBe('big-tenant');
    expect(dir.calls).toEqual({ lookup: 1, assign: 0 });
    expect(strategy.kind).toBe('directory');
    expect(strategy.shards()).toEqual(shards);
  });

  it('assigns a key that has no entry, and caches the assignment', async () => {
    const dir = createFakeDirectory();
    const strategy = createDirectoryStrategy({ shards, lookup: dir.lookup, assign: dir.assign });
    expect(await strategy.shardFor('tenant:new')).toBe('new-tenants');
    expect(await strategy.shardFor('tenant:new')).toBe('new-tenants');
    expect(dir.calls).toEqual({ lookup: 1, assign: 1 });
  });

  it('shares one lookup among concurrent misses for the same key', async () => {
    const dir = createFakeDirectory({ k: 'elsewhere' });
    const strategy = createDirectoryStrategy({ shards, lookup: dir.lookup, assign: dir.assign });
    const answers = await Promise.all([strategy.shardFor('k'), strategy.shardFor('k'), strategy.shardFor('k')]);
    expect(answers).toEqual(['elsewhere', 'elsewhere', 'elsewhere']);
    expect(dir.calls.lookup).toBe(1);
  });

  it('looks the key up again after invalidate, and sees a move', async () => {
    const dir = createFakeDirectory({ 'tenant:acme': 'new-tenants' });
    const strategy = createDirectoryStrategy({ shards, lookup: dir.lookup, assign: dir.assign });
    expect(await strategy.shardFor('tenant:acme')).toBe('new-tenants');
    dir.table.set('tenant:acme', 'big-tenant');
    expect(await strategy.shardFor('tenant:acme')).toBe('new-tenants');
    strategy.invalidate('tenant:acme');
    expect(await strategy.shardFor('tenant:acme')).toBe('big-tenant');
    expect(dir.calls.lookup).toBe(2);
  });

  it('does not cache an answer that was in flight when the key was invalidated', async () => {
    const dir = createFakeDirectory({ k: 'new-tenants' });
    const strategy = createDirectoryStrategy({ shards, lookup: dir.lookup, assign: dir.assign });
    const stale = strategy.shardFor('k');
    strategy.invalidate('k');
    dir.table.set('k', 'big-tenant');
    expect(await stale).toBe('new-tenants');
    expect(await strategy.shardFor('k')).toBe('big-tenant');
  });

  it('keeps at most cacheSize entries, evicting the least recently used', async () => {
    const dir = createFakeDirectory({ a: 'elsewhere', b: 'elsewhere', c: 'elsewhere' });
    const strategy = createDirectoryStrategy({ shards, lookup: dir.lookup, assign: dir.assign, cacheSize: 2 });
    await strategy.shardFor('a');
    await strategy.shardFor('b');
    await strategy.shardFor('a'); // a is now the most recent
    await strategy.shardFor('c'); // evicts b
    expect(dir.calls.lookup).toBe(3);
    await strategy.shardFor('a');
    expect(dir.calls.lookup).toBe(3);
    await strategy.shardFor('b');
    expect(dir.calls.lookup).toBe(4);
  });

  it('rejects an answer naming an unknown shard, and does not cache the failure', async () => {
    const dir = createFakeDirectory({ k: 'nowhere' });
    const strategy = createDirectoryStrategy({ shards, lookup: dir.lookup, assign: dir.assign });
    await expect(strategy.shardFor('k')).rejects.toMatchObject({ code: 'SHARDING_UNKNOWN_SHARD' });
    dir.table.set('k', 'elsewhere');
    expect(await strategy.shardFor('k')).toBe('elsewhere');
  });

  it('validates its options', () => {
    const dir = createFakeDirectory();
    expect(() => createDirectoryStrategy({ shards: [], lookup: dir.lookup, assign: dir.assign })).toThrow(ShardingError);
    expect(() => createDirectoryStrategy({ shards, lookup: dir.lookup, assign: dir.assign, cacheSize: 0 })).toThrow(ShardingError);
  });
});
