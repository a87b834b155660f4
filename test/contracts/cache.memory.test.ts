import { createMemoryCache } from '../../src/platform/cache/bentocache.adapter.ts';
import { cacheContract } from './cache.contract.ts';

cacheContract('L1 memory (bentocache)', async () => {
  const cache = createMemoryCache({ defaultTtlSeconds: 600, maxItems: 10_000, jitter: 0 });
  return { cache, dispose: () => cache.close() };
});
