import { tracingChannels } from 'bentocache';

/** What `read` returns when bentocache must answer: the entry is absent, stale, or its tags may have dropped it. */
export const ASK_BENTO: unique symbol = Symbol('ask bentocache');

/** The shape bentocache 1.6.1 keeps in an L1 with `serialize: false` (its `CacheStack.set` raw item). */
interface RawL1Item {
  value: unknown;
  logicalExpiration?: number;
  tags?: string[];
  createdAt: number;
}

/** The part of bentocache's L1 driver we read: `get` applies the driver's own key prefix. */
interface L1Driver {
  get(key: string): unknown;
}

/** Where bentocache keeps its tag invalidation stamps (TagSystem's `#kTagPrefix`). */
const TAG_KEY = '___bc:t:';

export interface L1FastRead {
  /** Wraps an L1 driver (the `{ options, factory }` bentostore takes) so the reader sees the driver bentocache builds. */
  capture<O, C, D extends L1Driver>(driver: { options: O; factory: (config: C) => D }): { options: O; factory: (config: C) => D };
  /** The value of a fresh L1 entry that no tag has dropped, or ASK_BENTO. Counts nothing. */
  read(key: string): unknown;
}

/**
 * A cache hit served straight from bentocache's L1, without bentocache.
 *
 * Why: bentocache 1.6.1 spends far more than the lookup on every `getOrSet` hit. Each call builds a
 * full options object (`defaultOptions.cloneWith(rawOptions)` → `createCacheEntryOptions`: a dozen
 * closures, a spread and a hexoid id), a tracing-channel context and an async closure, a
 * `CacheEntry` and an `{ entry, isGraced }` wrapper, a hit event object, and awaits the validity
 * check; an entry with tags runs a nested `getOrSet` per tag (`TagSystem.isTagInvalidated`, with
 * `#getSetTagOptions.cloneWith({})`, which allocates again since `{}` is truthy). Upstream made the
 * options cheaper (Julien-R44/bentocache#50, getters) but still builds them per call.
 *
 * What: the test bentocache itself applies to an L1 entry (`LocalCache.get`: logically expired?
 * `CacheStack.isEntryValid` and `TagSystem.isTagInvalidated`: created at or before a tag's stamp?),
 * on the raw item its memory driver holds (`serialize: false`). Anything this does not answer with
 * certainty is left to bentocache, which then does exactly what it always did: an absent, expired or
 * graced entry, a tag whose stamp is not in L1 or is stale, a serialized (string) item, and every
 * call while something subscribes to bentocache's tracing channel (so traces stay complete).
 * The LRU's recency is updated as bentocache's own read would.
 */
export function createL1FastRead(): L1FastRead {
  let driver: L1Driver | undefined;

  function fresh(item: unknown, now: number): item is RawL1Item {
    if (typeof item !== 'object' || item === null) return false;
    const expiration = (item as RawL1Item).logicalExpiration;
    return expiration === undefined || now < expiration;
  }

  return {
    capture(created) {
      return {
        options: created.options,
        factory: (config) => (driver = created.factory(config)),
      };
    },
    read(key) {
      if (driver === undefined || tracingChannels.cacheOperation.hasSubscribers) return ASK_BENTO;
      const item = driver.get(key);
      const now = Date.now();
      if (!fresh(item, now)) return ASK_BENTO;
      const tags = item.tags;
      if (tags !== undefined) {
        for (let i = 0; i < tags.length; i++) {
          const stamp = driver.get(TAG_KEY + tags[i]!);
          if (!fresh(stamp, now) || typeof stamp.value !== 'number' || item.createdAt <= stamp.value) return ASK_BENTO;
        }
      }
      return item.value;
    },
  };
}
