import { describe, expect, it } from 'vitest';
import type { Balanced } from './balancer.ts';
import { createBalancer } from './index.ts';
import { createMaglev } from './maglev.ts';

const instance = (id: string, weight = 1): Balanced => ({ id, weight, ramp: 1, inFlight: 0 });

/** A seeded generator (mulberry32), so a failure repeats. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function counts(picks: Array<Balanced | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of picks) out[p!.id] = (out[p!.id] ?? 0) + 1;
  return out;
}

describe('round-robin', () => {
  it('spreads 3000 requests over 3 instances within ±2 %', () => {
    const pool = [instance('a'), instance('b'), instance('c')];
    const rr = createBalancer('round-robin');
    const c = counts(Array.from({ length: 3000 }, () => rr.pick(pool, undefined, undefined)));
    for (const id of ['a', 'b', 'c']) expect(Math.abs(c[id]! - 1000)).toBeLessThanOrEqual(20);
  });

  it('gives a slow-starting instance its ramp share, and a retry another instance', () => {
    const pool = [instance('a'), instance('b'), instance('c')];
    pool[2]!.ramp = 0.25;
    const rr = createBalancer('round-robin', seeded(1));
    const c = counts(Array.from({ length: 3000 }, () => rr.pick(pool, undefined, undefined)));
    expect(c.c! / 3000).toBeGreaterThan(0.05);
    expect(c.c! / 3000).toBeLessThan(0.15);
    for (let i = 0; i < 10; i++) expect(rr.pick(pool, undefined, pool[0])).not.toBe(pool[0]);
    expect(rr.pick([pool[0]!], undefined, pool[0])).toBeUndefined();
  });
});

describe('smooth weighted round-robin', () => {
  it('spreads 3000 requests 1:2:3 within ±5 %', () => {
    const pool = [instance('a', 1), instance('b', 2), instance('c', 3)];
    const wrr = createBalancer('weighted');
    const c = counts(Array.from({ length: 3000 }, () => wrr.pick(pool, undefined, undefined)));
    expect(Math.abs(c.a! - 500)).toBeLessThanOrEqual(25);
    expect(Math.abs(c.b! - 1000)).toBeLessThanOrEqual(50);
    expect(Math.abs(c.c! - 1500)).toBeLessThanOrEqual(75);
  });

  it('interleaves rather than bursts (nginx: 5:1:1 gives a a b a c a a)', () => {
    const pool = [instance('a', 5), instance('b', 1), instance('c', 1)];
    const wrr = createBalancer('weighted');
    expect(Array.from({ length: 7 }, () => wrr.pick(pool, undefined, undefined)!.id).join(' ')).toBe('a a b a c a a');
  });
});

describe('least request (two random choices)', () => {
  it('prefers the instance with fewer requests in flight', () => {
    const pool = [instance('a'), instance('b'), instance('c')];
    pool[0]!.inFlight = 50;
    const lr = createBalancer('least-request', seeded(7));
    const c = counts(Array.from({ length: 3000 }, () => lr.pick(pool, undefined, undefined)));
    // a wins only when both draws are a, which never happens: the two draws are distinct.
    expect(c.a ?? 0).toBe(0);
    expect(c.b! + c.c!).toBe(3000);
  });

  it('never picks the excluded instance', () => {
    const pool = [instance('a'), instance('b'), instance('c')];
    const lr = createBalancer('least-request', seeded(3));
    for (let i = 0; i < 200; i++) expect(lr.pick(pool, undefined, pool[1])).not.toBe(pool[1]);
    expect(lr.pick([pool[0]!, pool[1]!], undefined, pool[0])).toBe(pool[1]);
  });
});

describe('consistent hashing (Maglev)', () => {
  const clients = Array.from({ length: 3000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);

  it('sends one client to one instance, and spreads clients evenly', () => {
    const pool = [instance('10.0.0.1:3000'), instance('10.0.0.2:3000'), instance('10.0.0.3:3000')];
    const maglev = createMaglev();
    for (const client of clients.slice(0, 100)) {
      const first = maglev.pick(pool, client, undefined);
      for (let i = 0; i < 5; i++) expect(maglev.pick(pool, client, undefined)).toBe(first);
    }
    const c = counts(clients.map((client) => maglev.pick(pool, client, undefined)));
    for (const n of Object.values(c)) expect(Math.abs(n - 1000)).toBeLessThanOrEqual(100);
  });

  it('moves at most about 1/4 of the clients when a fourth instance joins', () => {
    const three = [instance('10.0.0.1:3000'), instance('10.0.0.2:3000'), instance('10.0.0.3:3000')];
    const four = [...three, instance('10.0.0.4:3000')];
    const maglev = createMaglev();
    const before = clients.map((client) => maglev.pick(three, client, undefined)!.id);
    const after = clients.map((client) => maglev.pick(four, client, undefined)!.id);
    const moved = before.filter((id, i) => id !== after[i]).length / clients.length;
    // The minimum is 1/4 (the newcomer's share); Maglev's table adds a little churn among the others.
    expect(moved).toBeGreaterThan(0.2);
    expect(moved).toBeLessThanOrEqual(0.25 + 0.03);
    // Nearly every client that moved, moved to the newcomer (Maglev's small churn: under 1 %).
    expect(before.filter((id, i) => id !== after[i] && after[i] !== '10.0.0.4:3000').length).toBeLessThan(30);
  });

  it('keeps the other clients in place when an instance leaves, and retries on another instance', () => {
    const three = [instance('a:1'), instance('b:1'), instance('c:1')];
    const two = [three[0]!, three[2]!];
    const maglev = createMaglev();
    const before = clients.map((client) => maglev.pick(three, client, undefined)!.id);
    const after = clients.map((client) => maglev.pick(two, client, undefined)!.id);
    const strayed = before.filter((id, i) => id !== 'b:1' && id !== after[i]).length;
    expect(strayed / clients.length).toBeLessThan(0.03);
    const owner = maglev.pick(three, 'k', undefined)!;
    expect(maglev.pick(three, 'k', owner)).not.toBe(owner);
  });
});
