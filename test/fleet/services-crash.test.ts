import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceDatabaseUrl } from '../../src/platform/db/service-database.ts';
import { createProviderSimulator, type ProviderSimulator } from '../../lab/simulators/providers.ts';
import type { FleetStatus } from '../../src/app/fleet/fleet.ts';
import type { TopologyInput } from '../../src/app/fleet/topology.ts';
import { startRedis, stopService, type StartedService } from '../../src/app/infra/services.ts';
import { fleetCli as fleet } from '../support/fleet.ts';
import { ADMIN } from '../support/monolith.ts';
import { startPrivateNats, type PrivateNats } from '../support/nats.ts';
import { eventuallyPasses, expectEffectsOnce, queryDatabase, settleOrders, type PlacedOrder } from '../support/order-effects.ts';
import { ADDRESS } from '../support/orders.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.ts';

/** This suite's servers: the fleet on 280xx, a private NATS on 24290 and Redis on 24390. */
const BASE = 28_000;
const NATS_PORT = 24_290;
const REDIS_PORT = 24_390;
const LEASE_MS = 3_000;
const ORDERS = 300;
const KILL_AT = 100;
/** Two products with little stock, so that some orders fail for stock and an oversell would show. */
const STOCK: Record<string, number> = { 'MANY-1': 100_000, 'FEW-1': 25, 'MANY-2': 100_000, 'FEW-2': 25 };

/** The fleet, one process per module and two of catalog and orders, each service in a database of its own. */
function topology(env: Record<string, string>): TopologyInput {
  const group = (name: string, instances: number, port: number) => ({ name, role: 'service' as const, modules: [name], instances, port });
  return {
    version: 1,
    stage: 'scaled',
    edge: { enabled: false, port: BASE },
    gateways: { instances: 1, port: BASE + 1 },
    // In the order `fleet up` starts them: each group's callees answer before it starts.
    groups: [
      group('identity', 1, BASE + 10), group('inventory', 1, BASE + 20), group('payments', 1, BASE + 30), group('shipping', 1, BASE + 40),
      group('notifications', 1, BASE + 50), group('catalog', 2, BASE + 60), group('orders', 2, BASE + 70),
    ],
    env,
  };
}

/**
 * A fleet of service processes (`fleet up`, scaled stage: events on JetStream, the L2 cache on
 * Redis) behind its gateway, with the lab's provider simulator as payment provider, carrier,
 * warehouse and mail API. In each test one service instance is SIGKILLed while 300 orders come in
 * through the front door and the supervisor restarts it; what customers, the stock and the
 * outside systems saw is then checked. The tests share the fleet, each on products of its own.
 */
describe('a fleet of services, a service instance SIGKILLed during 300 orders', () => {
  let nats: PrivateNats;
  let redis: StartedService;
  let database: ScratchDatabase;
  /** A service's own database (`DATABASE_PER_SERVICE`: the scratch database's name + `_<module>`). */
  const databaseOf = (module: string) => serviceDatabaseUrl(database.url, [module]);
  let simulator: ProviderSimulator;
  let dir: string;
  let door: string;
  let retried = 0;
  const customers: string[] = [];
  const placed: PlacedOrder[] = [];

  const status = async (): Promise<FleetStatus> => {
    const answer = await fleet(['status', '--json', '--dir', dir]);
    expect(answer.code, answer.stderr).toBe(0);
    return JSON.parse(answer.stdout) as FleetStatus;
  };
  const call = async (method: string, url: string, token?: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${door}${url}`, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(15_000),
    });
    return { status: response.status, body: (await response.json().catch(() => null)) as Record<string, unknown> };
  };
  /** A client that retries what the front door could not answer (5xx, a dropped connection), with the same Idempotency-Key. */
  const persist = async (method: string, url: string, token?: string, body?: unknown, headers: Record<string, string> = {}) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const result = await call(method, url, token, body, headers).catch(() => null);
      if (result && result.status < 500) return result;
      retried++;
      if (Date.now() > deadline) throw new Error(`${method} ${url}: no answer (${JSON.stringify(result)})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const place = async (n: number, tag: string, productIds: string[]): Promise<PlacedOrder> => {
    const token = customers[n % customers.length]!;
    const productId = productIds[n % productIds.length]!;
    const quantity = 1 + (Math.floor(n / productIds.length) % 2);
    const response = await persist('POST', '/api/v1/orders', token, { items: [{ productId, quantity }], shippingAddress: ADDRESS }, { 'idempotency-key': `services-crash-${tag}-${n}` });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    const order = { id: response.body.id as string, token, productId, quantity };
    placed.push(order);
    return order;
  };
  const settle = (orders: readonly PlacedOrder[], withinMs: number) =>
    settleOrders(orders, async (order) => (await persist('GET', `/api/v1/orders/${order.id}`, order.token)).body.status as string, withinMs);

  beforeAll(async () => {
    database = await createScratchDatabase('scalemart_fleetcrash');
    dir = await mkdtemp(join(tmpdir(), 'scalemart-fleet-crash-'));
    nats = await startPrivateNats({ port: NATS_PORT });
    redis = await startRedis(join(dir, 'redis'), REDIS_PORT);
    simulator = await createProviderSimulator({
      seed: 23,
      knobs: { payments: { declineRate: 0.15, latencyMs: { p50: 30, p99: 120 } }, carrier: { latencyMs: { p50: 10, p99: 40 } }, warehouse: { latencyMs: 5 } },
    });
    const file = join(dir, 'topology.json');
    await writeFile(file, JSON.stringify(topology({
      DATABASE_URL: database.url, DATABASE_PER_SERVICE: 'true', NATS_URL: nats.url, REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`,
      PROVIDERS_URL: simulator.url, EMAIL_URL: `${simulator.url}/email/messages`,
      ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, SEED_DEMO_PRODUCTS: '0', LOG_LEVEL: 'warn', RATE_LIMIT_POINTS: '1000000',
      SAGA_LEASE_MS: String(LEASE_MS), SAGA_STEP_ATTEMPTS: '5', DB_POOL_SIZE: '4', SHUTDOWN_DRAIN_MS: '200',
      TRUSTED_PROXIES: '127.0.0.1', GATEWAY_TRUSTED_PROXIES: '127.0.0.1', GATEWAY_DRAIN_GRACE_MS: '200', GATEWAY_HEALTH_INTERVAL_MS: '500',
    })));
    const up = await fleet(['up', '--topology', file, '--dir', dir, '--json']);
    expect(up.code, `${up.stderr}\n${up.stdout}`).toBe(0);
    door = (JSON.parse(up.stdout) as FleetStatus).publicUrl!;
    for (let i = 0; i < 6; i++) {
      const signup = await call('POST', '/api/v1/auth/signup', undefined, { email: `crash${i}@example.com`, password: 'password-123', name: 'C', country: 'DE' });
      expect(signup.status, JSON.stringify(signup.body)).toBe(201);
      customers.push(signup.body.token as string);
    }
  }, 240_000);

  afterAll(async () => {
    // `down` signals the fleet's recorded pids only.
    if (dir) await fleet(['down', '--dir', dir]);
    await simulator?.close();
    await nats?.stop();
    if (redis) await stopService(redis);
    if (dir) await rm(dir, { recursive: true, force: true });
    await database?.drop();
  }, 120_000);

  const createProducts = async (tag: string) => {
    const admin = (await call('POST', '/api/v1/auth/login', undefined, ADMIN)).body.token as string;
    const ids = new Map<string, string>();
    for (const [kind, stock] of Object.entries(STOCK)) {
      const sku = `SC-${tag}-${kind}`;
      const created = await call('POST', '/api/v1/products', admin, { sku, name: sku, category: 'Fleet', price: 1500, stock });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      ids.set(sku, created.body.id as string);
    }
    return ids;
  };

  // Each victim costs about 140 s on two cores; orders is the hardest (it runs the sagas). Payments
  // and notifications (the only instances of theirs: charges and emails in flight) passed the same
  // checks while the test was written: add them here to run them again.
  it.each([
    { victim: 'orders-1', why: 'it runs sagas' },
  ])('$victim ($why): every order settles, no oversell, at most one charge and one email per order', async ({ victim: name }) => {
    const tag = name.split('-')[0]!.toUpperCase();
    const products = await createProducts(tag);
    const victim = (await status()).processes.find((p) => p.name === name)!;
    expect(victim).toMatchObject({ health: 'ready', restarts: 0, pid: expect.any(Number) });
    const batch: PlacedOrder[] = [];
    retried = 0;
    let n = 0;
    let sagasOfVictim = -1;
    const placer = async () => {
      while (n < ORDERS) {
        const i = n++;
        // Slower payments around the kill, so that the victim has work in flight when it dies.
        if (i === KILL_AT - 40) simulator.setKnobs({ payments: { latencyMs: { p50: 300, p99: 600 } } });
        if (i === KILL_AT) {
          // Killed once it holds sagas: on a loaded machine the first orders after the slowdown may
          // all be running on the other instance at this moment (seen in CI: 0 in flight here).
          const deadline = Date.now() + 15_000;
          do {
            const owned = await queryDatabase<{ n: number }>(databaseOf('orders'), "select count(*)::int as n from saga.instances where status in ('running', 'compensating') and lease_owner like $1", [`%:${victim.pid}:%`]);
            sagasOfVictim = owned[0]!.n;
            if (sagasOfVictim === 0) await new Promise((resolve) => setTimeout(resolve, 50));
          } while (sagasOfVictim === 0 && Date.now() < deadline);
          process.kill(victim.pid!, 'SIGKILL');
          simulator.setKnobs({ payments: { latencyMs: { p50: 30, p99: 120 } } });
        }
        batch.push(await place(i, tag, [...products.values()]));
      }
    };
    const started = Date.now();
    await Promise.all([1, 2, 3, 4].map(placer));
    const final = await settle(batch, 90_000);
    const statuses = [...final.values()];
    console.info(`services-crash, ${name} killed: ${ORDERS} orders placed and settled in ${Date.now() - started} ms; ${retried} front-door answers retried; ${sagasOfVictim} sagas leased to the victim when it died`);
    if (name.startsWith('orders')) expect(sagasOfVictim, 'sagas in flight on the killed instance').toBeGreaterThan(0);

    expect(new Set(batch.map((o) => o.id)).size).toBe(ORDERS);
    expect(statuses.every((s) => s === 'confirmed' || s === 'failed')).toBe(true);
    expect(statuses.filter((s) => s === 'confirmed').length).toBeGreaterThan(0);

    // The supervisor brought the instance back, as a new process.
    await eventuallyPasses(async () => {
      const again = (await status()).processes.find((p) => p.name === name)!;
      expect(again).toMatchObject({ health: 'ready', restarts: 1 });
      expect(again.pid).not.toBe(victim.pid);
    });

    // Nothing oversold: each product's stock is what it had less what its confirmed orders took, none held.
    const failures = new Map<string, number>();
    for (const order of batch) {
      if (final.get(order.id) !== 'failed') continue;
      const reason = (await persist('GET', `/api/v1/orders/${order.id}`, order.token)).body.failureReason as string;
      failures.set(reason, (failures.get(reason) ?? 0) + 1);
    }
    console.info(`services-crash, ${name} killed: ${statuses.filter((s) => s === 'confirmed').length} confirmed, failed: ${JSON.stringify(Object.fromEntries(failures))}`);
    expect(failures.get('OUT_OF_STOCK') ?? 0, 'orders refused for stock').toBeGreaterThan(0);
    const stock = await queryDatabase<{ sku: string; available: number; reserved: number }>(databaseOf('inventory'), 'select sku, available, reserved from inventory.stock where sku = any($1)', [[...products.keys()]]);
    const taken = new Map<string, number>();
    for (const order of batch) if (final.get(order.id) === 'confirmed') taken.set(order.productId, (taken.get(order.productId) ?? 0) + order.quantity);
    for (const [sku, id] of products) {
      const initial = STOCK[sku.slice(`SC-${tag}-`.length)]!;
      const sold = taken.get(id) ?? 0;
      expect(sold, `units of ${sku} sold`).toBeLessThanOrEqual(initial);
      expect(stock.find((s) => s.sku === sku), sku).toEqual({ sku, available: initial - sold, reserved: 0 });
    }

    await expectEffectsOnce({ simulator, databaseOf, placed, settleAll: () => settle(placed, 5_000) }, final);
  }, 150_000);
});
