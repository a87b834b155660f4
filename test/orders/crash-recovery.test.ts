import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProviderSimulator, type ProviderSimulator } from '../../lab/simulators/providers.ts';
import { createRandom } from '../../lab/workload/zipf.ts';
import { ADMIN } from '../support/monolith.ts';
import { createRestartableScalemart } from '../support/process.ts';
import { createScratchDatabase } from '../support/postgres.ts';

const ORDERS = 100;
const ADDRESS = { name: 'Crash Test', line1: '1 Kill Street', city: 'Berlin', postalCode: '10115', country: 'DE' };

type Engine = [string, NodeJS.Signals, () => Promise<{ url: string; drop: () => Promise<void> }>];
/**
 * A PostgreSQL server and the default embedded one (a PostgreSQL server the process starts under
 * its data directory) are killed outright. PGlite, still there as `pglite://`, is stopped with
 * SIGTERM at the same random points: a SIGKILL can leave its data directory unopenable (seen under
 * CPU load: `could not open file "base/5/2701"`), so PGlite promises only that a stop at any
 * moment loses nothing.
 */
const engines: Engine[] = [
  ['PostgreSQL', 'SIGKILL', () => createScratchDatabase('scalemart_crash')],
  ['the default embedded database', 'SIGKILL', async () => ({ url: '', drop: async () => undefined })],
  ['PGlite on disk', 'SIGTERM', async () => ({ url: 'pglite://', drop: async () => undefined })],
];

describe.each(engines)('stopped at random points during the orders, on %s (%s)', (_name, signal, openDatabase) => {
  let simulator: ProviderSimulator;
  let dataDir: string;
  let database: { url: string; drop: () => Promise<void> };
  let server: Awaited<ReturnType<typeof createRestartableScalemart>> | undefined;
  let origin = '';
  const api = async (method: string, url: string, token?: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${origin}${url}`, {
      method, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: (await response.json().catch(() => null)) as Record<string, unknown> };
  };
  /** What a real client does when the server vanishes mid-request: try again, same Idempotency-Key. */
  const persistently = async (call: () => Promise<{ status: number; body: Record<string, unknown> }>) => {
    // A restart on a busy two-core machine (PGlite opening its files, migrations) can take 15 s.
    const deadline = Date.now() + 90_000;
    for (;;) {
      const result = await call().catch((error: unknown) => ({ status: 599, body: { error: String((error as Error).cause ?? error) } as Record<string, unknown> }));
      if (result.status < 500) return result;
      if (Date.now() > deadline) throw new Error(`the server never came back (last answer: ${JSON.stringify(result)}):\n${server?.output().slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  beforeAll(async () => {
    simulator = await createProviderSimulator({
      seed: 11,
      knobs: { payments: { declineRate: 0.2, latencyMs: { p50: 20, p99: 80 } }, carrier: { latencyMs: { p50: 10, p99: 40 }, rejectRate: 0.05 }, warehouse: { latencyMs: 5 } },
    });
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'scalemart-crash-'));
    database = await openDatabase();
    server = await createRestartableScalemart({
      SCALEMART_DATA_DIR: dataDir, DATABASE_URL: database.url, PROVIDERS_URL: simulator.url, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password,
      SEED_DEMO_PRODUCTS: '0', LOG_LEVEL: 'warn', RATE_LIMIT_POINTS: '1000000', SAGA_STEP_ATTEMPTS: '5', EMAIL_URL: `${simulator.url}/email/messages`,
    });
    origin = server.origin;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await simulator?.close();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('loses no order, leaks no stock, charges at most once and refunds exactly what failed after a charge', async () => {
    const admin = (await api('POST', '/api/v1/auth/login', undefined, ADMIN)).body.token as string;
    const stock = 30;
    const products: { id: string; sku: string }[] = [];
    for (const sku of ['CR-1', 'CR-2', 'CR-3']) {
      const created = await api('POST', '/api/v1/products', admin, { sku, name: sku, category: 'Crash', price: 1500, stock });
      products.push({ id: created.body.id as string, sku });
    }
    const customers: string[] = [];
    for (let i = 0; i < 4; i++) {
      customers.push((await api('POST', '/api/v1/auth/signup', undefined, { email: `crash${i}@example.com`, password: 'password-123', name: 'C', country: 'DE' })).body.token as string);
    }

    const random = createRandom(5);
    const placed: { id: string; token: string; sku: string; quantity: number }[] = [];
    let kills = 0;
    let placing = true;
    // Each process serves a few orders before it is stopped at a random moment: on a busy machine a
    // restart takes 10 s or more, and a killer on a fixed clock would keep the server down most of
    // the time while the orders crawl. After MAX_KILLS the last process takes the rest.
    const MAX_KILLS = 6;
    const killer = (async () => {
      while (placing && kills < MAX_KILLS) {
        const placedBefore = placed.length;
        await new Promise((r) => setTimeout(r, 150 + random() * 600));
        while (placing && placed.length < placedBefore + 3) await new Promise((r) => setTimeout(r, 10));
        if (!placing) break;
        await server!.restart(signal);
        kills++;
      }
    })();
    // Placing keeps pace with the killer, so the kills land during the orders however fast they go:
    // the second quarter of the orders waits for the first kill, the last quarter for the third.
    const MIN_KILLS = 3;
    const afterKills = async (i: number) => {
      while (kills < Math.min(MIN_KILLS, Math.floor((i * (MIN_KILLS + 1)) / ORDERS))) await new Promise((r) => setTimeout(r, 20));
    };
    const placer = async (worker: number) => {
      for (let i = worker; i < ORDERS; i += 4) {
        await afterKills(i);
        const token = customers[i % customers.length]!;
        const product = products[i % products.length]!;
        const quantity = 1 + (i % 2);
        const response = await persistently(() =>
          api('POST', '/api/v1/orders', token, { items: [{ productId: product.id, quantity }], shippingAddress: ADDRESS }, { 'idempotency-key': `crash-${i}` }),
        );
        expect(response.status).toBe(202);
        placed.push({ id: response.body.id as string, token, sku: product.sku, quantity });
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await Promise.all([0, 1, 2, 3].map(placer));
    placing = false;
    await killer;
    expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);
    expect(new Set(placed.map((o) => o.id)).size).toBe(ORDERS);

    // Every order ends confirmed or failed once the restarted process has resumed its sagas.
    const final = new Map<string, Record<string, unknown>>();
    const deadline = Date.now() + 60_000;
    for (const order of placed) {
      for (;;) {
        const { body } = await persistently(() => api('GET', `/api/v1/orders/${order.id}`, order.token));
        if (body.status !== 'pending') {
          final.set(order.id, body);
          break;
        }
        if (Date.now() > deadline) throw new Error(`order ${order.id} still pending`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const statuses = [...final.values()].map((o) => o.status);
    expect(statuses.every((s) => s === 'confirmed' || s === 'failed')).toBe(true);

    // No reservation leaked: nothing is held, and what left the shelf is exactly what was sold.
    for (const product of products) {
      const level = (await api('GET', `/api/v1/inventory/${product.sku}`)).body;
      const sold = placed.filter((o) => o.sku === product.sku && final.get(o.id)!.status === 'confirmed').reduce((n, o) => n + o.quantity, 0);
      expect(level.reserved, product.sku).toBe(0);
      expect(level.available, product.sku).toBe(stock - sold);
    }

    // The provider's own log: at most one charge per order; refunds exactly for failed orders that were charged.
    const log = simulator.log();
    const chargesByOrder = new Map<string, string[]>();
    for (const charge of log.charges) chargesByOrder.set(charge.orderId, [...(chargesByOrder.get(charge.orderId) ?? []), charge.id]);
    for (const [orderId, charges] of chargesByOrder) expect(charges, orderId).toHaveLength(1);
    const refunded = new Set(log.refunds.map((r) => r.chargeId));
    expect(log.refunds).toHaveLength(refunded.size);
    for (const [id, order] of final) {
      const charge = chargesByOrder.get(id)?.[0];
      if (order.status === 'confirmed') {
        expect(charge, id).toBeDefined();
        expect(refunded.has(charge!), id).toBe(false);
      } else if (charge) {
        expect(refunded.has(charge), `${id} failed with ${order.failureReason} after a charge`).toBe(true);
      }
    }
    expect(statuses.filter((s) => s === 'confirmed').length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 'failed').length).toBeGreaterThan(0);
  }, 240_000);
});
