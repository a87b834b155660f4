import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BentoCache, bentostore } from 'bentocache';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import type { CreateBusDriverResult, GetSetFactoryContext } from 'bentocache/types';
import { Redis } from 'ioredis';
import { objectL1Driver, observeBentoEvents, rethrowLoadError } from './bentocache.adapter.ts';
import { IGNORE_CACHE, jitteredTtlMs, observedLoad, type Cache, type CacheEntryOptions, type CacheObserver, type LoadContext } from './cache.ts';
import { ASK_BENTO, createL1FastRead } from './l1-fast-read.ts';

/** Deletes the load lock only if this holder still owns it (it may have expired and been taken by another). */
const RELEASE_LOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
const LOCK_POLL_MS = 5;

export interface TieredCacheOptions {
  /** e.g. `redis://127.0.0.1:6379/0`; holds the shared L2 entries and carries the invalidation bus. */
  redisUrl: string;
  /** Prefix of every Redis key and bus namespace. Instances that share data use the same prefix. */
  prefix: string;
  defaultTtlSeconds: number;
  /** Entries kept in each process's L1 (memory). */
  l1MaxItems: number;
  /** Fraction of the TTL added or removed at random, so a warm-up's entries do not all expire at once. Default 0.1. */
  jitter?: number;
  /** Longest one Redis command (L2 read/write, bus publish) may take before it counts as failed. Default 100 ms. */
  l2TimeoutMs?: number;
  /** How long L2 is skipped after a failure (bentocache's circuit breaker). Default 10 000 ms. */
  l2BreakerMs?: number;
  /** Longest a load holds the fleet-wide lock on its key; others wait at most this long. Default 5 000 ms. */
  loadLockMs?: number;
  /** Redis connection errors; they repeat on every reconnect attempt while Redis is down. Default: ignored. */
  onConnectionError?: (error: Error) => void;
  /** Told every hit (per tier), miss, load and L1 eviction (the cache metrics). */
  observer?: CacheObserver;
}

export interface TieredCacheStats {
  l1Hits: number;
  l2Hits: number;
  /** Reads that ran the loader. */
  misses: number;
  /** Hits that served a value past its TTL because the loader failed (grace). */
  graced: number;
}

/** The tiered cache also counts hits per tier (all namespaces together). */
export interface TieredCache extends Cache {
  stats(): TieredCacheStats;
}

/**
 * bentocache with L1 memory, L2 Redis and the Redis bus (the scaled stage).
 *
 * A change on one instance (set, delete, deleteByTags) reaches the others over Redis pub/sub, which
 * drops the key from their L1. A missing key is loaded once in the fleet: bentocache's lock holds
 * the other callers of one process, a Redis lock the other processes (`loadOnce`). A dead Redis costs at most `l2TimeoutMs` once per `l2BreakerMs`; reads
 * then fall back to L1 and the loader, and no error reaches the caller.
 */
export function createTieredCache(options: TieredCacheOptions): TieredCache {
  const l2TimeoutMs = options.l2TimeoutMs ?? 100;
  const onError = options.onConnectionError ?? (() => undefined);
  const l2 = new Redis(options.redisUrl, {
    commandTimeout: l2TimeoutMs,
    // A command issued while disconnected fails at the next failed reconnect instead of waiting:
    // no queue that grows during an outage, and no stale SET replayed once Redis is back.
    maxRetriesPerRequest: 0,
  });
  l2.on('error', onError);
  const bus = createGuardedBus(options.redisUrl, l2TimeoutMs, onError);

  const counts: TieredCacheStats = { l1Hits: 0, l2Hits: 0, misses: 0, graced: 0 };
  const outer = options.observer ?? IGNORE_CACHE;
  const observer: CacheObserver = {
    hit(tier, stale) {
      if (stale) counts.graced++;
      else if (tier === 'l1') counts.l1Hits++;
      else counts.l2Hits++;
      outer.hit(tier, stale);
    },
    miss() {
      counts.misses++;
      outer.miss();
    },
    loaded: (ms, ok) => outer.loaded(ms, ok),
    evicted: (tier) => outer.evicted(tier),
  };
  const emitter = observeBentoEvents(observer);
  // L1 hits are read straight from L1 (see l1-fast-read.ts); everything else goes through bentocache.
  const l1 = createL1FastRead();

  const bento = new BentoCache({
    default: 'cache',
    prefix: options.prefix,
    emitter,
    // Grace keeps the last value for an hour past expiry: a failing load serves it instead of an error.
    // Durations are numbers (ms): bentocache parses duration strings on every call.
    grace: 3_600_000,
    graceBackoff: 5_000,
    // A failing L2 is logged and skipped, never thrown (the default only when L1 exists; explicit here).
    suppressL2Errors: true,
    // After one L2 failure, skip L2 for a while instead of paying the timeout on every request.
    l2CircuitBreakerDuration: options.l2BreakerMs ?? 10_000,
    stores: {
      // L1 keeps objects, as the memory adapter's does: an L1 hit costs no JSON.parse and hands back
      // the same object, so what is rendered from it is rendered once (objectL1Driver works around
      // bentocache#111 for refills from L2).
      cache: bentostore()
        .useL1Layer(l1.capture(objectL1Driver(options.l1MaxItems, observer)))
        .useL2Layer(redisDriver({ connection: l2 }))
        .useBus(bus.driver),
    },
  });

  const jitter = options.jitter ?? 0.1;
  const ttlMs = (entry?: CacheEntryOptions) => jitteredTtlMs(entry, options.defaultTtlSeconds, jitter);
  const lockMs = options.loadLockMs ?? 5_000;

  /**
   * Stampede protection across instances: bentocache lets one caller per process load a missing
   * key; this lets one process in the fleet do it. The first takes a Redis lock (SET NX PX) and
   * loads; the others wait for the lock to go, then read the value from L2 instead of loading it.
   * With Redis unreachable, or a holder that died (the lock expires) or failed, each loads itself.
   */
  async function loadOnce<T>(fullKey: string, context: GetSetFactoryContext, load: (context: LoadContext) => Promise<T>, onLocked: (release: () => void) => void): Promise<T> {
    if (l2.status !== 'ready') return observedLoad(observer, load, context);
    const lockKey = `${options.prefix}:load-lock:${fullKey}`;
    const token = randomUUID();
    const locked = await l2.set(lockKey, token, 'PX', lockMs, 'NX').then((reply) => reply === 'OK', () => undefined);
    if (locked !== false) {
      if (locked) onLocked(() => void l2.eval(RELEASE_LOCK, 1, lockKey, token).catch(() => undefined));
      return observedLoad(observer, load, context);
    }
    const deadline = Date.now() + lockMs;
    while (Date.now() < deadline && (await l2.exists(lockKey).catch(() => 0)) === 1) await sleep(LOCK_POLL_MS);
    // Fresh values only: a stale one kept for grace is not what the other instance loaded.
    const loaded = (await bento.get({ key: fullKey, grace: false })) as T | undefined;
    if (loaded === undefined) return observedLoad(observer, load, context);
    // It is in L2 already, and every instance that had an older copy was told when it was written.
    context.setOptions({ skipL2Write: true, skipBusNotify: true });
    return loaded;
  }

  function view(prefix: string): TieredCache {
    return {
      // timeout: null turns off bentocache's default stale-while-revalidate (soft timeout 0), which
      // answers the first read after an expiry or a deleteByTags with the old value. Grace still
      // serves the old value when the loader fails. Only a per-call null does this: the global option
      // turns null into 0.
      peek(key) {
        const hit = l1.read(prefix + key);
        if (hit === ASK_BENTO) return undefined;
        observer.hit('l1', false);
        return hit as never;
      },
      async getOrSet(key, load, entry) {
        const fullKey = prefix + key;
        const hit = l1.read(fullKey);
        if (hit !== ASK_BENTO) {
          observer.hit('l1', false);
          return hit as never;
        }
        let release: (() => void) | undefined;
        try {
          return await bento.getOrSet({
            key: fullKey,
            factory: (context) => loadOnce(fullKey, context, load, (unlock) => (release = unlock)),
            ttl: ttlMs(entry),
            tags: entry?.tags,
            timeout: null,
          }).catch(rethrowLoadError);
        } finally {
          // Released once the value is in L2, so an instance that waited finds it there.
          release?.();
        }
      },
      set: async (key, value, entry) => void (await bento.set({ key: prefix + key, value, ttl: ttlMs(entry), tags: entry?.tags })),
      delete: async (key) => void (await bento.delete({ key: prefix + key })),
      deleteByTags: async (tags) => void (await bento.deleteByTag({ tags })),
      namespace: (name) => view(`${prefix}${name}:`),
      stats: () => ({ ...counts }),
      close: async () => {
        // The bus closes with QUIT, which waits forever behind commands queued while Redis is down;
        // after a short wait its connections are dropped instead. L1 and L2 close at once.
        await bounded(bento.disconnectAll(), l2TimeoutMs).catch(() => undefined);
        bus.forceClose();
      },
    };
  }
  return view('');
}

interface GuardedBus {
  driver: CreateBusDriverResult;
  /** Drops both bus connections at once, whatever they still have queued. */
  forceClose(): void;
}

/**
 * bentocache's Redis bus, guarded for a dead Redis; bentocache has no bus timeout or breaker.
 *
 * The bus duplicates one ioredis template into a publisher and a subscriber with the same options.
 * The subscriber must keep its SUBSCRIBE queued until Redis answers (a timed-out one is a lost
 * subscription), so the connections have no command timeout. The publisher is guarded here instead,
 * because `delete` and `set` await the publish: it fails at once while a connection is known to be
 * down and gives up after `timeoutMs` otherwise. A failed publish goes to bentocache's retry queue,
 * which resends it on reconnect.
 */
function createGuardedBus(redisUrl: string, timeoutMs: number, onError: (error: Error) => void): GuardedBus {
  const connections: Redis[] = [];
  // lazyConnect: the template itself never connects; only its duplicates do.
  const template = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
  template.duplicate = (override) => {
    const connection = Redis.prototype.duplicate.call(template, override);
    // Listeners are not copied by duplicate(); unobserved, ioredis prints every reconnect failure.
    connection.on('error', onError);
    connections.push(connection);
    return connection;
  };
  const down = () => connections.some((c) => c.status === 'reconnecting' || c.status === 'close' || c.status === 'end');
  const redisBus = redisBusDriver({ connection: template, retryQueue: { enabled: true, maxSize: 10_000 } });
  return {
    driver: {
      options: redisBus.options,
      factory: (config) => {
        const transport = redisBus.factory(config);
        const publish = transport.publish.bind(transport);
        transport.publish = (channel, message) =>
          down() ? Promise.reject(new Error('cache bus is disconnected')) : bounded(publish(channel, message), timeoutMs);
        const subscribe = transport.subscribe.bind(transport);
        transport.subscribe = (channel, handler) => {
          const subscribing = subscribe(channel, handler);
          // bentocache drops this promise; it only rejects when forceClose ends a pending SUBSCRIBE.
          subscribing.catch(onError);
          return subscribing;
        };
        return transport;
      },
    },
    forceClose: () => connections.forEach((c) => c.disconnect()),
  };
}

function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`cache bus took over ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
