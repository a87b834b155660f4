import { runOpenLoop, type OpenLoopResult } from '../drivers/open-loop.ts';
import { collectSetup, publishReport } from '../report.ts';
import { fixed, formatRange, median, spread } from '../stats.ts';
import { startProviderSimulator } from '../targets/provider-simulator.ts';
import { LAB_ENV, scalemartFlags, startScalemart } from '../targets/scalemart.ts';
import type { Target } from '../targets/target.ts';
import type { Scenario } from './types.ts';

const BAR_P99_MS = 100;
const ADMIN = { email: 'lab-admin@scalemart.local', password: 'lab-admin-password' };
/** email 2 s, warehouse 1 s (simulator knobs) and the invoice step held 3 s: 6 s of work per order. */
const SLOW = { email: { latencyMs: 2000 }, warehouse: { latencyMs: 1000 } };
const INVOICE_HOLD_MS = '3000';
const ADDRESS = { name: 'Lab', line1: '1 Load Lane', city: 'Berlin', postalCode: '10115', country: 'DE' };

async function json(origin: string, method: string, url: string, body?: unknown, token?: string) {
  const response = await fetch(`${origin}${url}`, {
    method, body: body ? JSON.stringify(body) : undefined,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  if (response.status >= 300) throw new Error(`${method} ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

/** Products with plenty of stock and customers with tokens, so every order can succeed. */
async function prepare(origin: string, products: number, customers: number) {
  const admin = (await json(origin, 'POST', '/api/v1/auth/login', ADMIN)).token as string;
  const productIds: string[] = [];
  for (let i = 0; i < products; i++) {
    productIds.push((await json(origin, 'POST', '/api/v1/products', { sku: `LAB-${i}`, name: `Lab product ${i}`, category: 'Lab', price: 1999, stock: 1_000_000 }, admin)).id as string);
  }
  const tokens: string[] = [];
  for (let i = 0; i < customers; i++) {
    tokens.push((await json(origin, 'POST', '/api/v1/auth/signup', { email: `lab${i}@example.com`, password: 'lab-password', name: `Lab ${i}`, country: 'DE' })).token as string);
  }
  return { productIds, tokens };
}

/**
 * POST /orders latency at a fixed open-loop rate while each order carries 6 s of slow follow-up
 * work, with that work off the request path (async) and on it (sync, the naive reference).
 */
export const orderAsync: Scenario = {
  description: `POST /api/v1/orders at a fixed rate with 6 s of follow-up work per order, async vs sync; bar: async p99 ≤ ${BAR_P99_MS} ms`,
  async run(options, { group, log, out }) {
    const simulator = await startProviderSimulator(group, SLOW);
    const targets: { target: Target; fixtures: Awaited<ReturnType<typeof prepare>> }[] = [];
    let flags: Record<string, string> = {};
    for (const processing of ['async', 'sync'] as const) {
      const env = {
        ...LAB_ENV, SCALEMART_DATA_DIR: await group.tempDir(`order-${processing}`),
        ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, ORDER_PROCESSING: processing,
        PROVIDERS_URL: simulator.origin, EMAIL_URL: `${simulator.origin}/email/messages`, NOTIFICATIONS_INVOICE_HOLD_MS: INVOICE_HOLD_MS,
      };
      flags = scalemartFlags({ ...env, ORDER_PROCESSING: 'async|sync' });
      const target = await startScalemart(group, env, processing);
      targets.push({ target, fixtures: await prepare(target.origin, 20, 20) });
    }

    const results = new Map<string, OpenLoopResult[]>(targets.map(({ target }) => [target.name, []]));
    let sequence = 0;
    const drive = ({ target, fixtures }: (typeof targets)[number], seconds: number) => runOpenLoop({
      origin: target.origin,
      ratePerSecond: options.orderRate,
      durationSeconds: seconds,
      timeoutMs: 60_000,
      request: (i) => ({
        method: 'POST', path: '/api/v1/orders',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${fixtures.tokens[i % fixtures.tokens.length]}`, 'idempotency-key': `lab-${sequence++}` },
        body: JSON.stringify({ items: [{ productId: fixtures.productIds[i % fixtures.productIds.length], quantity: 1 }], shippingAddress: ADDRESS }),
      }),
    });
    // Warm-up (JIT, pools, caches), not counted.
    for (const target of targets) await drive(target, options.warmupSeconds || 1);
    for (let round = 1; round <= options.rounds; round++) {
      for (const target of round % 2 ? targets : [...targets].reverse()) {
        // Let the previous run's follow-up work (sagas, consumers) quiet down before measuring.
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        const result = await drive(target, options.durationSeconds);
        results.get(target.target.name)!.push(result);
        log(`round ${round} ${target.target.name}: p99 ${result.ms.p99.toFixed(1)} ms, ${result.ok}/${result.sent} accepted`);
      }
    }

    const p99 = (name: string) => median(results.get(name)!.map((r) => r.ms.p99));
    const held = p99('async') <= BAR_P99_MS;
    const reportPaths = await publishReport({
      scenario: 'order-async',
      title: `order-async: POST /api/v1/orders at ${options.orderRate}/s × ${options.durationSeconds} s, ${options.rounds} rounds; email 2 s + warehouse 1 s + invoice held 3 s per order (lab simulator)`,
      setup: collectSetup('monolith', { rounds: options.rounds, duration: options.durationSeconds, orderRate: options.orderRate, ...flags }),
      table: {
        columns: ['notifications', 'sent', 'accepted', 'errors', 'p50 ms', 'p90 ms', 'p99 ms (median)', 'p99 range', 'p99.9 ms', 'max ms', 'late sends'],
        rows: [...results].map(([name, rs]) => {
          const sum = (f: (r: OpenLoopResult) => number) => rs.reduce((n, r) => n + f(r), 0);
          return [name, sum((r) => r.sent), sum((r) => r.ok), sum((r) => r.errors + r.non2xx), fixed(median(rs.map((r) => r.ms.p50)), 1),
            fixed(median(rs.map((r) => r.ms.p90)), 1), fixed(p99(name), 1), formatRange(spread(rs.map((r) => r.ms.p99)), 1), fixed(median(rs.map((r) => r.ms.p999)), 1),
            fixed(Math.max(...rs.map((r) => r.ms.max)), 1), sum((r) => r.late)];
        }),
      },
      verdict: [
        `POST /orders p99: async ${p99('async').toFixed(1)} ms vs sync ${p99('sync').toFixed(1)} ms (${(p99('sync') / p99('async')).toFixed(0)}× lower with the work off the request path).`,
        `Bar: async p99 ≤ ${BAR_P99_MS} ms: ${held ? 'holds' : 'NOT MET'}.`,
      ],
      data: Object.fromEntries(results),
    }, out);
    return { barHolds: held, reportPaths };
  },
};
