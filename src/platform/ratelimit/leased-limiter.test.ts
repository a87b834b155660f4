import { RateLimiterMemory } from 'rate-limiter-flexible';
import { describe, expect, it } from 'vitest';
import { createLeasedRateLimiter } from './leased-limiter.ts';
import type { RateLimiterStore } from './rate-limiter.ts';

/** One store shared by every limiter made from it (as Redis is shared by every gateway), counting its calls. */
function sharedStore() {
  let shared: RateLimiterMemory | undefined;
  const calls = { n: 0 };
  const store: RateLimiterStore = (options) => {
    shared ??= new RateLimiterMemory(options);
    const original = shared;
    return new Proxy(original, {
      get(target, prop, receiver) {
        if (prop === 'consume') return (...args: Parameters<RateLimiterMemory['consume']>) => (calls.n++, target.consume(...args));
        return Reflect.get(target, prop, receiver);
      },
    });
  };
  return { store, calls };
}

describe('a leased rate limiter', () => {
  it('admits exactly the limit across two processes, asking the store far less than once per request', async () => {
    const { store, calls } = sharedStore();
    const a = createLeasedRateLimiter(store, 100, 60, 'rl', 10);
    const b = createLeasedRateLimiter(store, 100, 60, 'rl', 10);
    let admitted = 0;
    for (let i = 0; i < 300; i += 6) {
      // Six at a time, alternating processes, some of them concurrent on one key.
      const batch = await Promise.all(Array.from({ length: 6 }, (_, k) => ((i + k) % 2 ? a : b).consume('client')));
      admitted += batch.filter((d) => d.allowed).length;
    }
    expect(admitted).toBe(100);
    expect(calls.n).toBeLessThan(60);
    const refused = await a.consume('client');
    expect(refused).toMatchObject({ allowed: false, remaining: 0 });
    expect(refused.resetSeconds).toBeGreaterThan(0);
    expect(a.tryNow('client')).toMatchObject({ allowed: false }); // refused without asking the store
  });

  it('takes small leases for small limits, and stays exact', async () => {
    const { store, calls } = sharedStore();
    const a = createLeasedRateLimiter(store, 20, 60, 'rl', 10);
    const decisions = [];
    for (let i = 0; i < 25; i++) decisions.push(await a.consume('login'));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(20);
    expect(decisions.map((d) => d.remaining).slice(0, 3)).toEqual([19, 18, 17]);
    expect(calls.n).toBeLessThanOrEqual(21);
  });

  it('keeps clients apart', async () => {
    const { store } = sharedStore();
    const a = createLeasedRateLimiter(store, 30, 60, 'rl', 10);
    for (let i = 0; i < 30; i++) expect((await a.consume('one')).allowed).toBe(true);
    expect((await a.consume('one')).allowed).toBe(false);
    expect((await a.consume('two')).allowed).toBe(true);
  });
});
