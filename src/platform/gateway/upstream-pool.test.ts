import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBalancer } from './balancers/index.ts';
import { createGatewayMetrics } from './gateway-metrics.ts';
import { createUpstreamInstance, type UpstreamInstance } from './upstream-instance.ts';
import { createUpstreamPool, type PoolPolicy, type UpstreamPool } from './upstream-pool.ts';

let clock = 0;
const pools: UpstreamPool[] = [];

function poolOf(n: number, policy: Partial<PoolPolicy> = {}): UpstreamPool {
  const metrics = createGatewayMetrics(new Registry());
  const instances = Array.from({ length: n }, (_, i) =>
    createUpstreamInstance({ url: `http://127.0.0.1:${40_000 + i}`, weight: 1, pool: 'p', connection: { connections: 1, keepAliveMs: 1_000, connectTimeoutMs: 100 }, series: metrics.instance('p', String(i)) }),
  );
  const pool = createUpstreamPool({ name: 'p', instances, balancer: createBalancer('round-robin'), policy, now: () => clock });
  pools.push(pool);
  return pool;
}

const picks = (pool: UpstreamPool, n = 300) => {
  const seen = new Map<UpstreamInstance, number>();
  for (let i = 0; i < n; i++) {
    const p = pool.pick(undefined, undefined)!;
    seen.set(p, (seen.get(p) ?? 0) + 1);
  }
  return seen;
};

afterEach(async () => {
  clock = 0;
  vi.useRealTimers();
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('an upstream pool', () => {
  it('ejects after 5 consecutive failures, for base × times ejected, and never more than half the pool', () => {
    vi.useFakeTimers();
    const pool = poolOf(4, { slowStartMs: 0 });
    const [a, b, c] = pool.instances as [UpstreamInstance, UpstreamInstance, UpstreamInstance];
    for (let i = 0; i < 4; i++) pool.failed(a, 'status');
    pool.succeeded(a); // a success resets the count
    for (let i = 0; i < 4; i++) pool.failed(a, 'reset');
    expect(a.ejected).toBe(false);
    pool.failed(a, 'timeout');
    expect(a.ejected).toBe(true);
    expect(picks(pool).has(a)).toBe(false);
    for (let i = 0; i < 5; i++) pool.failed(b, 'status');
    for (let i = 0; i < 5; i++) pool.failed(c, 'status');
    expect([a.ejected, b.ejected, c.ejected]).toEqual([true, true, false]); // 2 of 4 at most
    vi.advanceTimersByTime(30_000);
    expect(a.ejected).toBe(false);
    for (let i = 0; i < 5; i++) pool.failed(a, 'status');
    expect(a.ejected).toBe(true);
    vi.advanceTimersByTime(59_000);
    expect(a.ejected).toBe(true); // second time: 60 s
    vi.advanceTimersByTime(1_000);
    expect(a.ejected).toBe(false);
  });

  it('forgives one earlier ejection per base ejection time served back in rotation', () => {
    vi.useFakeTimers();
    const pool = poolOf(4, { slowStartMs: 0 });
    const a = pool.instances[0]!;
    const ejectFor = () => {
      for (let i = 0; i < 5; i++) pool.failed(a, 'status');
      expect(a.ejected).toBe(true);
      const started = clock;
      while (a.ejected) {
        clock += 1_000;
        vi.advanceTimersByTime(1_000);
      }
      return clock - started;
    };
    expect(ejectFor()).toBe(30_000);
    expect(ejectFor()).toBe(60_000); // at once again: twice as long
    expect(ejectFor()).toBe(90_000);
    clock += 65_000; // two base terms served well: two ejections forgiven
    expect(ejectFor()).toBe(60_000);
    clock += 10 * 30_000; // long healthy: back to the base term
    expect(ejectFor()).toBe(30_000);
  });

  it('takes an instance out at once on a refused connection, and back after `rise` passed checks', () => {
    const pool = poolOf(3, { slowStartMs: 0 });
    const [a] = pool.instances as [UpstreamInstance];
    pool.failed(a, 'connect');
    expect(a.up).toBe(false);
    expect(pool.healthy()).toBe(2);
    expect(picks(pool).has(a)).toBe(false);
    pool.checked(a, true);
    expect(a.up).toBe(false);
    pool.checked(a, true);
    expect(a.up).toBe(true);
    expect(picks(pool).get(a)).toBe(100);
  });

  it('takes a draining instance out at once, but never the last one taking traffic; it comes back after `rise` passed checks', () => {
    const pool = poolOf(2, { slowStartMs: 0 });
    const [a, b] = pool.instances as [UpstreamInstance, UpstreamInstance];
    pool.draining(a);
    expect(a.up).toBe(false);
    expect(picks(pool).get(b)).toBe(300);
    // b drains too, with a gone: b still serves until its drain ends, so it keeps the traffic.
    pool.draining(b);
    expect(b.up).toBe(true);
    expect(picks(pool).get(b)).toBe(300);
    // a restarted: its checks bring it back, and b, now draining, can go.
    pool.checked(a, true);
    pool.checked(a, true);
    expect(a.up).toBe(true);
    pool.draining(b);
    expect(b.up).toBe(false);
    expect(picks(pool).get(a)).toBe(300);
  });

  it('goes down after `fall` failed checks; the first check decides alone', () => {
    const pool = poolOf(2);
    const [a, b] = pool.instances as [UpstreamInstance, UpstreamInstance];
    pool.checked(a, true);
    pool.checked(b, false);
    expect(b.up).toBe(false); // first check
    pool.checked(a, false);
    pool.checked(a, false);
    expect(a.up).toBe(true);
    pool.checked(a, false);
    expect(a.up).toBe(false);
    expect(pool.pick(undefined, undefined)).toBeUndefined(); // none healthy: 503 NO_HEALTHY_UPSTREAM
  });

  it('balances over every instance in panic mode (fewer than half healthy)', () => {
    const pool = poolOf(4, { slowStartMs: 0 });
    const [a, b, c] = pool.instances as [UpstreamInstance, UpstreamInstance, UpstreamInstance];
    for (const i of [a, b, c]) pool.failed(i, 'connect');
    expect(pool.healthy()).toBe(1);
    expect(pool.panicking()).toBe(true);
    expect(picks(pool, 400).size).toBe(4);
    pool.checked(a, true);
    pool.checked(a, true);
    expect(pool.panicking()).toBe(false); // 2 of 4 is not below half
    expect(picks(pool, 400).size).toBe(2);
  });

  it('ramps a returning instance up over the slow-start window', () => {
    const pool = poolOf(3, { slowStartMs: 10_000 });
    const [a] = pool.instances as [UpstreamInstance];
    pool.failed(a, 'connect');
    pool.checked(a, true);
    pool.checked(a, true);
    clock = 1_000;
    const early = picks(pool, 3000).get(a) ?? 0;
    expect(early / 3000).toBeLessThan(0.1);
    clock = 5_000;
    const middle = picks(pool, 3000).get(a) ?? 0;
    expect(middle).toBeGreaterThan(early);
    clock = 10_000;
    expect(Math.abs((picks(pool, 3000).get(a) ?? 0) - 1000)).toBeLessThanOrEqual(20);
    expect(a.ramp).toBe(1);
  });
});

describe('an ejected instance that crashed', () => {
  it('is readmitted when its checks see it down and then back up, before its ejection ends', () => {
    const pool = poolOf(3, { slowStartMs: 0 });
    const [a] = pool.instances as [UpstreamInstance];
    for (let i = 0; i < 5; i++) pool.failed(a, 'reset');
    expect(a.ejected).toBe(true);
    pool.checked(a, true); // still passing: stays ejected
    expect(a.ejected).toBe(true);
    for (let i = 0; i < 3; i++) pool.checked(a, false);
    for (let i = 0; i < 2; i++) pool.checked(a, true);
    expect([a.up, a.ejected]).toEqual([true, false]);
    expect(pool.healthy()).toBe(3);
  });
});
