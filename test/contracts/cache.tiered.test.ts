import { randomBytes } from 'node:crypto';
import { createTieredCache } from '../../src/platform/cache/tiered-cache.ts';
import { cacheContract } from './cache.contract.ts';
import { dropKeys, REDIS_URL } from '../support/redis.ts';


cacheContract('L1 memory + L2 Redis + bus (bentocache)', async () => {
  const prefix = `scalemart_test_${randomBytes(6).toString('hex')}`;
  const cache = createTieredCache({ redisUrl: REDIS_URL, prefix, defaultTtlSeconds: 600, l1MaxItems: 10_000, jitter: 0 });
  return { cache, dispose: async () => (await cache.close(), await dropKeys(prefix)) };
});
