import { randomBytes } from 'node:crypto';
import { createLatencyHistogram, type LatencySummary } from '../drivers/latency-histogram.ts';
import { collectSetup, publishReport } from '../report.ts';
import { fixed } from '../stats.ts';
import { LAB_ENV, productPath, startScalemart } from '../targets/scalemart.ts';
import type { Scenario } from './types.ts';
import { adminQuery, LAB_POSTGRES_URL } from '../postgres-admin.ts';

const BAR_P99_MS = 100;
const UPDATES = 1_000;
const ADMIN = { email: 'lab-admin@scalemart.local', password: 'lab-admin-password' };
const REDIS = process.env.LAB_REDIS_URL ?? 'redis://127.0.0.1:6379';


/** Polls `origin` until it serves `price` for the product; returns when it did. */
async function servedAt(origin: string, path: string, price: number): Promise<number> {
  for (;;) {
    const body = (await (await fetch(`${origin}${path}`)).json()) as { price: number };
    if (body.price === price) return performance.now();
  }
}

/**
 * Two Scalemart processes on one PostgreSQL and one Redis (CACHE_MODE=l1l2): a price changed
 * through A, timed until B serves it, 1 000 times. Beside it, a process with caching off shows the
 * floor: how long a read that always goes to the database takes to see the change.
 */
export const cachePropagation: Scenario = {
  description: `a change through one instance until another serves it (L1 + Redis L2 + bus), ${UPDATES} updates; bar p99 ≤ ${BAR_P99_MS} ms`,
  async run(_options, { group, log, out }) {
    const database = `scalemart_lab_${randomBytes(5).toString('hex')}`;
    await adminQuery(`create database ${database}`);
    try {
      const url = new URL(LAB_POSTGRES_URL);
      url.pathname = `/${database}`;
      const env = { ...LAB_ENV, DATABASE_URL: url.toString(), REDIS_URL: REDIS, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password };
      const a = await startScalemart(group, { ...env, CACHE_MODE: 'l1l2', SCALEMART_DATA_DIR: await group.tempDir('prop-a') }, 'instance A');
      const b = await startScalemart(group, { ...env, CACHE_MODE: 'l1l2', SCALEMART_DATA_DIR: await group.tempDir('prop-b') }, 'instance B');
      const off = await startScalemart(group, { ...env, CACHE_MODE: 'off', SCALEMART_DATA_DIR: await group.tempDir('prop-off') }, 'no cache');
      const token = ((await (await fetch(`${a.origin}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) })).json()) as { token: string }).token;
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
      const product = (await (await fetch(`${a.origin}/api/v1/products`, { method: 'POST', headers, body: JSON.stringify({ sku: `PROP-${database}`, name: 'Propagation', category: 'Lab', price: 1, stock: 1 }) })).json()) as { id: string };
      const path = productPath(product.id);
      await fetch(`${b.origin}${path}`); // B holds it in L1 from here on

      const viaBus = createLatencyHistogram();
      const floor = createLatencyHistogram();
      for (let i = 1; i <= UPDATES; i++) {
        const price = 1_000 + i;
        const response = await fetch(`${a.origin}${path}`, { method: 'PATCH', headers, body: JSON.stringify({ price }) });
        await response.body?.cancel();
        const written = performance.now();
        const [seenB, seenOff] = await Promise.all([servedAt(b.origin, path, price), servedAt(off.origin, path, price)]);
        viaBus.record(seenB - written);
        floor.record(seenOff - written);
        if (i % 250 === 0) log(`${i}/${UPDATES} updates`);
      }
      const row = (name: string, s: LatencySummary) => [name, s.count, fixed(s.p50, 2), fixed(s.p90, 2), fixed(s.p99, 2), fixed(s.p999, 2), fixed(s.max, 2)];
      const bus = viaBus.summary();
      const held = bus.p99 <= BAR_P99_MS;
      const reportPaths = await publishReport({
        scenario: 'cache-propagation',
        title: `cache-propagation: a price changed through instance A until instance B serves it, ${UPDATES} updates, both on one PostgreSQL and one Redis`,
        setup: collectSetup('scaled (cache only: 2 processes, CACHE_MODE=l1l2)', { updates: UPDATES }),
        table: { columns: ['reader', 'updates', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms'], rows: [row('instance B (L1 + L2, bus)', bus), row('no cache (reads the database)', floor.summary())] },
        verdict: [`Delay from the write's answer on A until B serves the new value: p99 ${fixed(bus.p99, 2)} ms. Bar p99 ≤ ${BAR_P99_MS} ms: ${held ? 'holds' : 'NOT MET'}.`],
        data: { viaBus: bus, floor: floor.summary() },
      }, out);
      return { barHolds: held, reportPaths };
    } finally {
      // The servers hold connections to the database: stop them before dropping it.
      await group.stopAll();
      await adminQuery(`drop database if exists ${database} with (force)`).catch(() => undefined);
    }
  },
};
