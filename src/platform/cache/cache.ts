/** The cache port. Values are treated as immutable: callers never mutate what they get back. */
export interface CacheEntryOptions {
  /** Seconds before the entry expires; the cache adds jitter so entries do not expire together. */
  ttlSeconds?: number;
  /** Tags for group invalidation, e.g. every list page that shows a product. */
  tags?: string[];
}

/** What a loader can say about the entry it is producing. */
export interface LoadContext {
  /** Adds tags known only once the value is loaded (the products on a list page). */
  setTags(tags: string[]): void;
}

export interface Cache {
  /** Cache-aside read: returns the cached value or loads it once, even under concurrent callers. */
  getOrSet<T>(key: string, load: (context: LoadContext) => Promise<T>, options?: CacheEntryOptions): Promise<T>;
  /**
   * The value `getOrSet` would answer from this process's memory at once (a fresh L1 entry that no
   * tag dropped), synchronously and counted as an L1 hit; undefined when only `getOrSet` can answer
   * (absent, expired, graced, tag-checked remotely). Never loads. Lets a hot read skip its promises.
   */
  peek?<T>(key: string): T | undefined;
  /** Write-through: puts a fresh value in place. */
  set<T>(key: string, value: T, options?: CacheEntryOptions): Promise<void>;
  delete(key: string): Promise<void>;
  deleteByTags(tags: string[]): Promise<void>;
  /** A view of this cache whose keys live under `name:` (modules namespace and version their keys). */
  namespace(name: string): Cache;
  close(): Promise<void>;
}

/**
 * The TTL in ms for an entry: its own or the default, moved at random by up to ±`jitter` of itself,
 * so entries loaded together (a warm-up, a burst) do not all expire together.
 */
export function jitteredTtlMs(entry: CacheEntryOptions | undefined, defaultTtlSeconds: number, jitter: number): number {
  const base = (entry?.ttlSeconds ?? defaultTtlSeconds) * 1000;
  return Math.round(base * (1 - jitter + Math.random() * 2 * jitter));
}

export type CacheTier = 'l1' | 'l2';

/**
 * What a cache adapter reports as it works: the per-tier figures behind the cache metrics and the
 * lab's hit ratios. Called on the hot path, so implementations only count.
 */
export interface CacheObserver {
  /** A read answered by `tier`; `stale` when it served a value past its TTL because the load failed (grace). */
  hit(tier: CacheTier, stale: boolean): void;
  /** A read no tier could answer. */
  miss(): void;
  /** A loader ran (a miss under stampede protection loads once however many readers missed). */
  loaded(ms: number, ok: boolean): void;
  /** An entry pushed out of a full tier before its TTL. */
  evicted(tier: CacheTier): void;
}

/** Counts nothing. */
export const IGNORE_CACHE: CacheObserver = { hit: () => undefined, miss: () => undefined, loaded: () => undefined, evicted: () => undefined };

/** Runs a loader and tells the observer how long it took and whether it worked. */
export async function observedLoad<T, C>(observer: CacheObserver, load: (context: C) => Promise<T>, context: C): Promise<T> {
  const started = performance.now();
  try {
    const value = await load(context);
    observer.loaded(performance.now() - started, true);
    return value;
  } catch (error) {
    observer.loaded(performance.now() - started, false);
    throw error;
  }
}

/**
 * The same cache with every loader run inside `around` (e.g. with reads pinned to the primary).
 * Writes, deletes and hits pass straight through.
 */
export function aroundLoads(cache: Cache, around: <T>(load: () => Promise<T>) => Promise<T>): Cache {
  return {
    getOrSet: (key, load, options) => cache.getOrSet(key, (context) => around(() => load(context)), options),
    // A hit loads nothing, so it needs no wrapping.
    ...(cache.peek ? { peek: cache.peek.bind(cache) } : {}),
    set: (key, value, options) => cache.set(key, value, options),
    delete: (key) => cache.delete(key),
    deleteByTags: (tags) => cache.deleteByTags(tags),
    namespace: (name) => aroundLoads(cache.namespace(name), around),
    close: () => cache.close(),
  };
}
