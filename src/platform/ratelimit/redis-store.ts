import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import type { RateLimiterStore } from './rate-limiter.ts';

/**
 * Limits counted in Redis, so that every process sharing it shares one budget per client. When
 * Redis is not connected, or does not answer a command in time (the client's `commandTimeout`),
 * rate-limiter-flexible asks the in-memory insurance limiter instead: each process then limits on
 * its own with the same points, so a client may get up to N × the limit from N processes until
 * Redis is back, and never an error.
 *
 * The client should be made with `enableOfflineQueue: false` (a command while disconnected fails
 * at once instead of waiting) and a short `commandTimeout`.
 */
export function redisRateLimiterStore(redis: Redis): RateLimiterStore {
  return (options) =>
    new RateLimiterRedis({
      storeClient: redis,
      ...options,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ ...options, keyPrefix: `${options.keyPrefix}:insurance` }),
    });
}
