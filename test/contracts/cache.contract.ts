import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cache } from '../../src/platform/cache/cache.ts';

/** Re-checks `probe` until it returns true; fails after a generous deadline, so slow machines do not flake. */
export async function pollUntil(probe: () => Promise<boolean>, deadlineMs = 5_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${deadlineMs} ms`);
    await sleep(everyMs);
  }
}

/** A loader that counts its calls and takes a little time, so concurrent callers overlap it. */
function countingLoader<T>(value: T, delayMs = 20) {
  const loader = async () => {
    loader.calls++;
    await sleep(delayMs);
    return value;
  };
  loader.calls = 0;
  return loader;
}

/**
 * What every cache adapter promises. `open` returns a cache with a default TTL well over a test's
 * length and no jitter; each test uses its own keys, so the tests share one cache.
 */
export function cacheContract(name: string, open: () => Promise<{ cache: Cache; dispose: () => Promise<void> }>) {
  describe(`Cache contract: ${name}`, () => {
    let cache: Cache;
    let dispose: () => Promise<void>;
    beforeAll(async () => ({ cache, dispose } = await open()));
    afterAll(() => dispose());
    const unique = (label: string) => `${label}-${randomUUID()}`;

    it('loads a missing key once for 200 concurrent callers', async () => {
      const key = unique('stampede');
      const load = countingLoader({ id: 1 }, 50);
      const got = await Promise.all(Array.from({ length: 200 }, () => cache.getOrSet(key, load)));
      expect(load.calls).toBe(1);
      expect(got.every((value) => value.id === 1)).toBe(true);
    });

    it('serves a cached value without loading again', async () => {
      const key = unique('hit');
      await cache.getOrSet(key, countingLoader('first'));
      const again = countingLoader('second');
      expect(await cache.getOrSet(key, again)).toBe('first');
      expect(again.calls).toBe(0);
    });

    it('returns what set put in place, over an older value', async () => {
      const key = unique('set');
      await cache.getOrSet(key, countingLoader('old'));
      await cache.set(key, { name: 'new' });
      const load = countingLoader({ name: 'loaded' });
      expect(await cache.getOrSet(key, load)).toEqual({ name: 'new' });
      expect(load.calls).toBe(0);
    });

    it('loads again after delete', async () => {
      const key = unique('delete');
      await cache.set(key, 'cached');
      await cache.delete(key);
      const load = countingLoader('reloaded');
      expect(await cache.getOrSet(key, load)).toBe('reloaded');
      expect(load.calls).toBe(1);
    });

    it('drops the entries of a tag and keeps the others', async () => {
      const [tagged, other, tag] = [unique('tagged'), unique('other'), unique('tag')];
      await cache.getOrSet(tagged, countingLoader('v1'), { tags: [tag] });
      await cache.getOrSet(other, countingLoader('kept'), { tags: [unique('tag')] });
      await cache.deleteByTags([tag]);
      expect(await cache.getOrSet(tagged, countingLoader('v2'), { tags: [tag] })).toBe('v2');
      expect(await cache.getOrSet(other, countingLoader('reloaded'))).toBe('kept');
    });

    it('keeps namespaces apart', async () => {
      const key = unique('shared-name');
      const [a, b] = [cache.namespace(unique('a')), cache.namespace(unique('b'))];
      await a.set(key, 'in a');
      await b.set(key, 'in b');
      expect(await cache.getOrSet(key, countingLoader('in root'))).toBe('in root');
      await a.delete(key);
      expect(await b.getOrSet(key, countingLoader('reloaded'))).toBe('in b');
      expect(await a.getOrSet(key, countingLoader('a reloaded'))).toBe('a reloaded');
      expect(await a.namespace('v2').getOrSet(key, countingLoader('nested'))).toBe('nested');
    });

    it('expires an entry after its TTL', async () => {
      const key = unique('ttl');
      await cache.getOrSet(key, countingLoader('v1'), { ttlSeconds: 1 });
      expect(await cache.getOrSet(key, countingLoader('early'), { ttlSeconds: 1 })).toBe('v1');
      const reload = countingLoader('v2', 0);
      await pollUntil(async () => (await cache.getOrSet(key, reload, { ttlSeconds: 1 })) === 'v2');
      expect(reload.calls).toBe(1);
    });
  });
}
