import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { jitteredTtlMs, type Cache, type CacheEntryOptions } from './cache.ts';

export interface MemoryCacheOptions {
  defaultTtlSeconds: number;
  maxItems: number;
  /** Fraction of the TTL added or removed at random, so a warm-up's entries do not all expire at once. */
  jitter?: number;
}

/** bentocache with an in-process L1 tier only (the monolith stage). */
export function createMemoryCache(options: MemoryCacheOptions): Cache {
  const bento = new BentoCache({
    default: 'cache',
    // Grace keeps the last value for an hour past expiry: a failing load serves it instead of an error.
    // Durations are numbers (ms): bentocache parses duration strings on every call.
    grace: 3_600_000,
    graceBackoff: 5_000,
    stores: {
      // serialize: false keeps objects by reference; safe because the port's values are immutable.
      cache: bentostore().useL1Layer(memoryDriver({ maxItems: options.maxItems, serialize: false })),
    },
  });
  const jitter = options.jitter ?? 0.1;
  const ttlMs = (entry?: CacheEntryOptions) => jitteredTtlMs(entry, options.defaultTtlSeconds, jitter);

  function view(prefix: string): Cache {
    return {
      // timeout: null makes a read after an invalidation or expiry wait for the fresh value; bentocache's
      // default (0) answers with the stale one while refreshing. Grace still covers a failing load.
      getOrSet: (key, load, entry) => bento.getOrSet({ key: prefix + key, factory: load, ttl: ttlMs(entry), tags: entry?.tags, timeout: null }),
      set: async (key, value, entry) => void (await bento.set({ key: prefix + key, value, ttl: ttlMs(entry), tags: entry?.tags })),
      delete: async (key) => void (await bento.delete({ key: prefix + key })),
      deleteByTags: async (tags) => void (await bento.deleteByTag({ tags })),
      namespace: (name) => view(`${prefix}${name}:`),
      close: () => bento.disconnectAll(),
    };
  }
  return view('');
}

/** Caching switched off: every read loads. The lab's reference point. */
export function createNoCache(): Cache {
  const none: Cache = {
    getOrSet: (_key, load) => load({ setTags: () => undefined }),
    set: async () => undefined,
    delete: async () => undefined,
    deleteByTags: async () => undefined,
    namespace: () => none,
    close: async () => undefined,
  };
  return none;
}
