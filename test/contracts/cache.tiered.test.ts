import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createTieredCache } from '../../src/platform/cache/tiered-cache.ts';
import { cacheContract } from './cache.contract.ts';

/** The real server the suite talks to; `.ci/run` starts it when it is down. */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Removes every key this run wrote, found by its unique prefix. */
async function dropKeys(prefix: string) {
  const redis = new Redis(REDIS_URL);
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) {
      if (keys.length) await redis.del(...keys);
    }
  } finally {
    redis.disconnect();
  }
}

cacheContract('L1 memory + L2 Redis + bus (bentocache)', async () => {
  const prefix = `scalemart_test_${randomBytes(6).toString('hex')}`;
  const cache = createTieredCache({ redisUrl: REDIS_URL, prefix, defaultTtlSeconds: 600, l1MaxItems: 10_000, jitter: 0 });
  return { cache, dispose: async () => (await cache.close(), await dropKeys(prefix)) };
});
