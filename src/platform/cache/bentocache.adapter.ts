import { EventEmitter } from 'node:events';
import { BentoCache, bentostore, errors } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import type { Emitter } from 'bentocache/types';
import { LRUCache } from 'lru-cache';
import { IGNORE_CACHE, jitteredTtlMs, observedLoad, type Cache, type CacheEntryOptions, type CacheObserver, type CacheTier } from './cache.ts';
import { ASK_BENTO, createL1FastRead } from './l1-fast-read.ts';

/**
 * bentocache wraps what a load threw in its own E_FACTORY_ERROR; the caller gets the load's error
 * (a DependencyUnavailableError stays one, and answers 503), as it would without the cache.
 */
export function rethrowLoadError(error: unknown): never {
  throw error instanceof errors.E_FACTORY_ERROR && error.cause !== undefined ? error.cause : error;
}

export interface MemoryCacheOptions {
  defaultTtlSeconds: number;
  maxItems: number;
  /** Fraction of the TTL added or removed at random, so a warm-up's entries do not all expire at once. */
  jitter?: number;
  /** Told every hit, miss, load and eviction (the cache metrics). */
  observer?: CacheObserver;
}

/**
 * bentocache's emitter, telling an observer of reads. It dispatches by name instead of through an
 * EventEmitter listener, which cost about 40 ns per L1 hit (~4 % of a ~1 µs hit, micro-benchmark);
 * this costs one compare and the observer's increment. Other events go to a plain EventEmitter (bentocache's `on` works as
 * before). Tag invalidation stamps are read the same way as entries, but they are not callers' reads.
 */
export function observeBentoEvents(observer: CacheObserver): Emitter {
  const others = new EventEmitter();
  return {
    on: (event, callback) => void others.on(event, callback),
    once: (event, callback) => void others.once(event, callback),
    off: (event, callback) => void others.off(event, callback),
    emit(event: string, data: { key: string; layer?: CacheTier; graced?: boolean }) {
      if (event === 'cache:hit') {
        if (!data.key.startsWith(TAG_KEY)) observer.hit(data.layer ?? 'l1', data.graced === true);
      } else if (event === 'cache:miss') {
        if (!data.key.startsWith(TAG_KEY)) observer.miss();
      }
      others.emit(event, data);
    },
  };
}

/** Where bentocache keeps its tag invalidation stamps. */
const TAG_KEY = '___bc:t:';

/**
 * bentocache's memory driver over an LRU we own, so that evictions can be counted (bentocache
 * reports none). The driver's constructor takes `cacheInstance` (typed there, not in `MemoryConfig`;
 * its `namespace()` shares one LRU this way), and the factory hands it our options unchanged.
 */
export function observedMemoryDriver(options: { maxItems: number; serialize: boolean }, observer: CacheObserver) {
  const lru = new LRUCache<string, string>({
    max: options.maxItems,
    ttlAutopurge: false,
    // Read the clock on every expiry check. lru-cache's default (1 ms) caches the clock and arms a
    // 1 ms timer to forget it: on a busy server a timer and an event-loop wake-up every millisecond.
    ttlResolution: 0,
    dispose: (_value, _key, reason) => void (reason === 'evict' && observer.evicted('l1')),
  });
  return memoryDriver({ maxItems: options.maxItems, serialize: options.serialize, cacheInstance: lru } as Parameters<typeof memoryDriver>[0]);
}

/**
 * An L1 that keeps entries as objects (no JSON per hit, and the same object on every hit, which the
 * catalog's rendered bodies are keyed on) in front of an L2. bentocache 1.6.1 refills such an L1
 * from L2 with the entry still serialized, a JSON string it cannot read back (TypeError on the next
 * read: Julien-R44/bentocache#111). This L1 otherwise only ever receives entry objects, so a string
 * is the serialized entry and is parsed on the way in.
 */
export function objectL1Driver(maxItems: number, observer: CacheObserver) {
  const created = observedMemoryDriver({ maxItems, serialize: false }, observer);
  return {
    options: created.options,
    factory: (config: Parameters<typeof created.factory>[0]) => {
      const driver = created.factory(config);
      const set = driver.set.bind(driver);
      // The driver's type says string (a serialized L1's); with serialize: false it holds entry objects.
      driver.set = (key, value, ttl) => set(key, typeof value === 'string' ? (JSON.parse(value) as typeof value) : value, ttl);
      return driver;
    },
  };
}

/** bentocache with an in-process L1 tier only (the monolith stage). */
export function createMemoryCache(options: MemoryCacheOptions): Cache {
  const observer = options.observer ?? IGNORE_CACHE;
  // Hits are read straight from L1 (see l1-fast-read.ts); everything else goes through bentocache.
  const l1 = createL1FastRead();
  const bento = new BentoCache({
    default: 'cache',
    emitter: observeBentoEvents(observer),
    // Grace keeps the last value for an hour past expiry: a failing load serves it instead of an error.
    // Durations are numbers (ms): bentocache parses duration strings on every call.
    grace: 3_600_000,
    graceBackoff: 5_000,
    stores: {
      // serialize: false keeps objects by reference; safe because the port's values are immutable.
      cache: bentostore().useL1Layer(l1.capture(observedMemoryDriver({ maxItems: options.maxItems, serialize: false }, observer))),
    },
  });
  const jitter = options.jitter ?? 0.1;
  const ttlMs = (entry?: CacheEntryOptions) => jitteredTtlMs(entry, options.defaultTtlSeconds, jitter);

  function view(prefix: string): Cache {
    return {
      // timeout: null makes a read after an invalidation or expiry wait for the fresh value; bentocache's
      // default (0) answers with the stale one while refreshing. Grace still covers a failing load.
      peek: (key) => {
        const hit = l1.read(prefix + key);
        if (hit === ASK_BENTO) return undefined;
        observer.hit('l1', false);
        return hit as never;
      },
      getOrSet: (key, load, entry) => {
        const hit = l1.read(prefix + key);
        if (hit !== ASK_BENTO) {
          observer.hit('l1', false);
          return Promise.resolve(hit as never);
        }
        return bento.getOrSet({ key: prefix + key, factory: (context) => observedLoad(observer, load, context), ttl: ttlMs(entry), tags: entry?.tags, timeout: null })
          .catch(rethrowLoadError);
      },
      set: async (key, value, entry) => void (await bento.set({ key: prefix + key, value, ttl: ttlMs(entry), tags: entry?.tags })),
      delete: async (key) => void (await bento.delete({ key: prefix + key })),
      deleteByTags: async (tags) => void (await bento.deleteByTag({ tags })),
      namespace: (name) => view(`${prefix}${name}:`),
      close: () => bento.disconnectAll(),
    };
  }
  return view('');
}

const NO_TAGS = { setTags: () => undefined };

/** Caching switched off: every read loads (and counts as a miss and a load). The lab's reference point. */
export function createNoCache(observer: CacheObserver = IGNORE_CACHE): Cache {
  const none: Cache = {
    getOrSet: (_key, load) => {
      observer.miss();
      return observedLoad(observer, load, NO_TAGS);
    },
    set: async () => undefined,
    delete: async () => undefined,
    deleteByTags: async () => undefined,
    namespace: () => none,
    close: async () => undefined,
  };
  return none;
}
