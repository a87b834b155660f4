import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRateLimiter, memoryRateLimiterStore, syncMemoryConsume, type RateDecision } from './rate-limiter.ts';

/** What the library's own async consume decides, as a RateDecision. */
async function libraryDecision(limiter: RateLimiterMemory, key: string): Promise<RateDecision> {
  const decide = (res: RateLimiterRes, allowed: boolean) => ({ allowed, limit: limiter.points, remaining: Math.max(0, res.remainingPoints), resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) });
  try {
    return decide(await limiter.consume(key), true);
  } catch (rejection) {
    return decide(rejection as RateLimiterRes, false);
  }
}

describe('the synchronous memory limiter', () => {
  afterEach(() => vi.useRealTimers());

  it('decides exactly as rate-limiter-flexible consume does, window after window', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const reference = new RateLimiterMemory({ points: 3, duration: 2, keyPrefix: 'ref' });
    const ours = createRateLimiter(memoryRateLimiterStore, 3, 2, 'ours');
    expect(ours.consumeNow).toBeTypeOf('function');
    for (let step = 0; step < 12; step++) {
      for (const key of ['ip:1', 'ip:2', 'ip:1']) {
        expect(ours.consumeNow!(key)).toEqual(await libraryDecision(reference, key));
      }
      vi.advanceTimersByTime(700); // crosses the 2 s window every few steps
    }
  });

  it('counts in the library store: the async path and the library see the same counts', async () => {
    const store = new RateLimiterMemory({ points: 5, duration: 60, keyPrefix: 'shared' });
    const ours = createRateLimiter(() => store, 5, 60, 'shared');
    ours.consumeNow!('k');
    expect((await ours.consume('k')).remaining).toBe(3);
    expect((await store.get('k'))?.consumedPoints).toBe(2);
    await store.delete('k');
    expect(ours.consumeNow!('k').remaining).toBe(4);
  });

  it('refuses past the limit and keeps refusing until the window resets', () => {
    vi.useFakeTimers({ now: 5_000_000 });
    const ours = createRateLimiter(memoryRateLimiterStore, 2, 10, 'r');
    expect([1, 2, 3, 4].map(() => ours.consumeNow!('c').allowed)).toEqual([true, true, false, false]);
    expect(ours.consumeNow!('c')).toMatchObject({ remaining: 0, resetSeconds: 10 });
    vi.advanceTimersByTime(10_001);
    expect(ours.consumeNow!('c')).toMatchObject({ allowed: true, remaining: 1 });
  });

  it('leaves limiters it cannot mirror to the library (block duration, execute evenly, other stores)', async () => {
    expect(syncMemoryConsume(new RateLimiterMemory({ points: 1, duration: 1, blockDuration: 5 }))).toBeUndefined();
    expect(syncMemoryConsume(new RateLimiterMemory({ points: 1, duration: 1, execEvenly: true }))).toBeUndefined();
    const other = createRateLimiter(() => ({ consume: async () => new RateLimiterRes(7, 1000, 1) }) as never, 8, 1, 'x');
    expect(other.consumeNow).toBeUndefined();
    expect(await other.consume('k')).toEqual({ allowed: true, limit: 8, remaining: 7, resetSeconds: 1 });
  });
});
