import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTieredCache } from '../../src/platform/cache/tiered-cache.ts';
import { adminToken, bearer, startTestMonolith, type TestMonolith } from '../support/monolith.ts';
import { freePort } from '../support/process.ts';

/** A Redis of the test's own on a spare port, so killing it disturbs nothing else on the machine. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const probe = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined); // refusals while the server starts are expected
  for (let i = 0; i < 100; i++) {
    if (await probe.connect().then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  probe.disconnect();
  return child;
}

/** Runs `check` until it passes or `ms` have gone by (then its last failure is the test's). */
async function eventually(check: () => Promise<void>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const loaderMustNotRun = async (): Promise<never> => {
  throw new Error('the loader ran: the value was not found in the cache');
};

const listPage = (cursor: string) => `/api/v1/products?category=Test&limit=20${cursor ? `&cursor=${cursor}` : ''}`;

describe('Redis dies under load', () => {
  let port: number;
  let redis: ChildProcess;
  let m: TestMonolith;
  const ids: string[] = [];
  /** Cursors of the list's pages (the first page has none). */
  const cursors: string[] = [];
  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    m = await startTestMonolith({ CACHE_MODE: 'l1l2', REDIS_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'error' });
    const admin = bearer(await adminToken(m));
    for (let i = 0; i < 50; i++) {
      ids.push((await m.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload: { sku: `RF-${i}`, name: `P${i}`, category: 'Test', price: 100 + i, stock: 10 } })).json<{ id: string }>().id);
    }
    for (let cursor: string | null = ''; cursor !== null;) {
      cursors.push(cursor);
      cursor = (await m.app.inject({ url: listPage(cursor) })).json<{ nextCursor: string | null }>().nextCursor;
    }
  });
  afterAll(async () => {
    await m?.dispose();
    redis?.kill('SIGKILL');
  });

  it('answers every request (no 5xx) when Redis is killed during a 30 s load, and uses it again once it is back', async () => {
    const admin = bearer(await adminToken(m));
    const statuses = new Map<number, number>();
    let running = true;
    const load = Promise.all(Array.from({ length: 16 }, async (_, worker) => {
      for (let i = worker; running; i++) {
        // Reads of every product and of list pages (tagged entries), and now and then a change,
        // which writes through, drops tagged pages and publishes on the bus.
        const id = ids[i % ids.length]!;
        const response = i % 25 === 0
          ? await m.app.inject({ method: 'PATCH', url: `/api/v1/products/${id}`, headers: admin, payload: { price: 100 + (i % 97), name: `P${i % 50}` } })
          : i % 7 === 0
            ? await m.app.inject({ url: listPage(cursors[i % cursors.length]!) })
            : await m.app.inject({ url: `/api/v1/products/${id}` });
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      }
    }));
    // 30 s in all: 5 s with Redis, 15 s without it, 10 s with a new, empty Redis.
    await new Promise((r) => setTimeout(r, 5_000));
    redis.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 15_000));
    redis = await startRedis(port);
    await new Promise((r) => setTimeout(r, 10_000));
    running = false;
    await load;
    const served = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect([...statuses.keys()].filter((status) => status !== 200)).toEqual([]);
    expect(served).toBeGreaterThan(3_000);

    // Back in use: a change writes the new page to Redis again (L2), once bentocache's breaker has closed.
    const client = new Redis({ port });
    try {
      const deadline = Date.now() + 15_000;
      let keys: string[] = [];
      while (Date.now() < deadline && keys.length === 0) {
        await m.app.inject({ method: 'PATCH', url: `/api/v1/products/${ids[0]}`, headers: admin, payload: { price: 999 } });
        keys = await client.keys('*catalog:v1:detail*');
        if (keys.length === 0) await new Promise((r) => setTimeout(r, 250));
      }
      expect(keys.length).toBeGreaterThan(0);
    } finally {
      client.disconnect();
    }

    // The bus works again both ways on the instance that lived through the outage. A second
    // instance on the same Redis and prefix reads its entries from L2 and drops its own L1 copy on
    // the instance's changes, and its changes drop the instance's L1 copy. Each change repeats
    // until seen: the second instance's subscription may still be on its way, and on 2 busy cores
    // one L2 command over its 100 ms timeout can open the instance's L2 breaker again for 10 s.
    const other = createTieredCache({ redisUrl: `redis://127.0.0.1:${port}`, prefix: 'scalemart:v1', defaultTtlSeconds: 600, l1MaxItems: 100 });
    try {
      const key = 'redis-failure:probe';
      await eventually(async () => {
        await m.cache.set(key, 1);
        expect(await other.getOrSet<number>(key, loaderMustNotRun)).toBe(1);
      }, 15_000);
      expect(other.stats().l2Hits).toBeGreaterThan(0);
      await eventually(async () => {
        await m.cache.set(key, 2);
        expect(await other.getOrSet<number>(key, loaderMustNotRun)).toBe(2);
      });
      expect(await m.cache.getOrSet<number>(key, loaderMustNotRun)).toBe(2);
      await eventually(async () => {
        await other.set(key, 3);
        expect(await m.cache.getOrSet<number>(key, loaderMustNotRun)).toBe(3);
      });
    } finally {
      await other.close();
    }
  }, 120_000);
});
