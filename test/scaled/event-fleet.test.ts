import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProviderSimulator, type ProviderSimulator } from '../../lab/simulators/providers.ts';
import { startRedis, stopService, type StartedService } from '../../src/app/infra/services.ts';
import { ADMIN } from '../support/monolith.ts';
import { startPrivateNats, type PrivateNats } from '../support/nats.ts';
import { eventuallyPasses, expectEffectsOnce as expectEffects, queryDatabase, settleOrders, type PlacedOrder as Placed } from '../support/order-effects.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.ts';
import { startStandalonePostgres, type StandalonePostgres } from '../../src/app/infra/standalone-postgres.ts';
import { freePort, startScalemartProcess, type Running } from '../support/process.ts';

/** This suite's private servers: NATS 24260 and Redis 24360 (other suites use other ranges), and PostgreSQL 27742 for the outbox in the WAL. */
const NATS_PORT = 24_260;
const REDIS_PORT = 24_360;
const WAL_POSTGRES_PORT = 27_742;
const LEASE_MS = 3_000;
const ADDRESS = { name: 'Fleet Test', line1: '3 Broker Road', city: 'Berlin', postalCode: '10115', country: 'DE' };

interface Instance {
  name: string;
  origin: string;
  port: number;
  running: Running | undefined;
}

/**
 * Three scaled processes share one PostgreSQL database, a Redis and a NATS JetStream server of
 * this suite's own, with the lab's provider simulator as payment provider, carrier, warehouse and
 * mail API. What a customer and the outside systems see is checked against the simulator's log
 * and the read models, while processes and the broker are killed.
 */
/**
 * Run twice: with each database's outbox in its `events.outbox` table (on the machine's server),
 * and in its WAL (`EVENTS_OUTBOX=wal`, on a private server with wal_level = logical).
 */
describe.each(['table', 'wal'] as const)('the scaled stage on JetStream, with instances and the broker killed (outbox: %s)', (outbox) => {
  let nats: PrivateNats;
  let walServer: StandalonePostgres | undefined;
  let redis: StartedService;
  let redisDir: string;
  let database: ScratchDatabase;
  let simulator: ProviderSimulator;
  const dataDirs: string[] = [];
  const instances: Instance[] = [];
  let env: Record<string, string>;
  let admin = '';
  const products: string[] = [];
  const customers: string[] = [];
  const placed: Placed[] = [];

  const start = async (instance: Instance) => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), `scalemart-fleet-${instance.name}-`));
    dataDirs.push(dataDir);
    instance.running = await startScalemartProcess({ ...env, SCALEMART_DATA_DIR: dataDir }, instance.port);
  };
  const kill = async (instance: Instance) => {
    instance.running?.child.kill('SIGKILL');
    await instance.running?.exited;
    instance.running = undefined;
  };

  const call = async (origin: string, method: string, url: string, token?: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${origin}${url}`, {
      method, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(15_000),
    });
    return { status: response.status, body: (await response.json().catch(() => null)) as Record<string, unknown> };
  };
  /** A client behind a balancer: an instance that is down or failing is retried on the next one, same Idempotency-Key. */
  const anyInstance = async (first: number, method: string, url: string, token?: string, body?: unknown, headers: Record<string, string> = {}) => {
    const deadline = Date.now() + 60_000;
    for (let attempt = 0; ; attempt++) {
      const instance = instances[(first + attempt) % instances.length]!;
      const result = instance.running ? await call(instance.origin, method, url, token, body, headers).catch(() => null) : null;
      if (result && result.status < 500) return result;
      if (Date.now() > deadline) throw new Error(`${method} ${url}: no instance answered (${JSON.stringify(result)})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const place = async (onInstance: number, n: number, tag: string): Promise<Placed> => {
    const token = customers[n % customers.length]!;
    const productId = products[n % products.length]!;
    const quantity = 1 + (n % 2);
    const response = await anyInstance(onInstance, 'POST', '/api/v1/orders', token, { items: [{ productId, quantity }], shippingAddress: ADDRESS }, { 'idempotency-key': `${tag}-${n}` });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    const order = { id: response.body.id as string, token, productId, quantity };
    placed.push(order);
    return order;
  };
  /** Polls every order until it is confirmed or failed; returns the final statuses. */
  const settle = (orders: readonly Placed[], withinMs: number) =>
    settleOrders(orders, async (order) => (await anyInstance(0, 'GET', `/api/v1/orders/${order.id}`, order.token)).body.status as string, withinMs);
  const query = <R extends object>(sql: string, params: unknown[] = []) => queryDatabase<R>(database.url, sql, params);
  const expectEffectsOnce = (final: Map<string, string>) => expectEffects({ simulator, databaseOf: () => database.url, placed, settleAll: () => settle(placed, 5_000) }, final);

  beforeAll(async () => {
    nats = await startPrivateNats({ port: NATS_PORT });
    redisDir = await mkdtemp(path.join(os.tmpdir(), 'scalemart-fleet-redis-'));
    redis = await startRedis(redisDir, REDIS_PORT);
    if (outbox === 'wal') {
      walServer = await startStandalonePostgres({ port: WAL_POSTGRES_PORT, name: 'fleet-wal' });
      await queryDatabase(walServer.url(), 'create database scalemart_fleet');
      database = { url: walServer.url('scalemart_fleet'), drop: async () => undefined };
    } else {
      database = await createScratchDatabase('scalemart_fleet');
    }
    simulator = await createProviderSimulator({
      seed: 17,
      knobs: { payments: { declineRate: 0.15, latencyMs: { p50: 30, p99: 120 } }, carrier: { latencyMs: { p50: 10, p99: 40 } }, warehouse: { latencyMs: 5 } },
    });
    env = {
      SCALEMART_STAGE: 'scaled', DATABASE_URL: database.url, REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`, NATS_URL: nats.url,
      PROVIDERS_URL: simulator.url, EMAIL_URL: `${simulator.url}/email/messages`, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password,
      JWT_SECRET: 'fleet-test-secret-shared-by-every-instance', SEED_DEMO_PRODUCTS: '0', LOG_LEVEL: 'warn', RATE_LIMIT_POINTS: '1000000',
      SAGA_LEASE_MS: String(LEASE_MS), SAGA_STEP_ATTEMPTS: '5', DB_POOL_SIZE: '6', EVENTS_OUTBOX: outbox,
    };
    for (const name of ['a', 'b', 'c']) {
      const port = await freePort();
      const instance: Instance = { name, port, origin: `http://127.0.0.1:${port}`, running: undefined };
      instances.push(instance);
      // One after another: the first creates the schema and the stream, the others find them.
      await start(instance);
    }
    admin = (await call(instances[0]!.origin, 'POST', '/api/v1/auth/login', undefined, ADMIN)).body.token as string;
    for (const sku of ['FL-1', 'FL-2', 'FL-3']) {
      products.push((await call(instances[0]!.origin, 'POST', '/api/v1/products', admin, { sku, name: sku, category: 'Fleet', price: 1200, stock: 100_000 })).body.id as string);
    }
    for (let i = 0; i < 6; i++) {
      customers.push((await call(instances[i % 3]!.origin, 'POST', '/api/v1/auth/signup', undefined, { email: `fleet${i}@example.com`, password: 'password-123', name: 'F', country: 'DE' })).body.token as string);
    }
  }, 180_000);

  afterAll(async () => {
    for (const instance of instances) await kill(instance);
    await simulator?.close();
    await nats?.stop();
    if (redis) await stopService(redis);
    await database?.drop();
    await walServer?.stop();
    for (const dir of [redisDir, ...dataDirs]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('settles 300 orders placed across three instances while one is SIGKILLed and restarted, each effect once', async () => {
    const batch: Placed[] = [];
    const victim = instances[1]!;
    let n = 0;
    const placer = async (worker: number) => {
      while (n < 300) {
        const i = n++;
        if (i === 100) {
          await kill(victim);
          setTimeout(() => void start(victim), 1_000);
        }
        batch.push(await place(worker, i, 'kill-restart'));
      }
    };
    await Promise.all([0, 1, 2].map(placer));
    const final = await settle(batch, 90_000);
    expect(new Set(batch.map((o) => o.id)).size).toBe(300);
    expect([...final.values()].every((s) => s === 'confirmed' || s === 'failed')).toBe(true);
    expect([...final.values()].filter((s) => s === 'confirmed').length).toBeGreaterThan(0);
    await expectEffectsOnce(final);
    await eventuallyPasses(async () => expect(victim.running).toBeDefined());
    // The events went over JetStream: the table log on the shared database stayed empty.
    expect(await query('select 1 from events.log limit 1')).toEqual([]);
    // And through the outbox they were configured for: in the WAL, no row touched the table.
    const inserted = (await query<{ rows: number }>('select n_tup_ins::int as rows from pg_stat_user_tables where schemaname = $1 and relname = $2', ['events', 'outbox']))[0]?.rows;
    if (outbox === 'wal') expect(inserted).toBe(0);
    else expect(inserted).toBeGreaterThan(0);
  }, 240_000);

  it("finishes the orders an instance had in flight on the others when it dies for good, within the lease and a few seconds", async () => {
    simulator.setKnobs({ payments: { latencyMs: { p50: 400, p99: 800 } } });
    const doomed = instances[2]!;
    const doomedIndex = 2;
    // Placed on the doomed instance only, so their sagas are its own and in flight when it dies.
    const batch = await Promise.all(Array.from({ length: 40 }, (_, i) => place(doomedIndex, 1_000 + i, 'doomed')));
    const pending = (await Promise.all(batch.map((o) => call(doomed.origin, 'GET', `/api/v1/orders/${o.id}`, o.token)))).filter((r) => r.body.status === 'pending').length;
    await kill(doomed);
    const killedAt = Date.now();
    simulator.setKnobs({ payments: { latencyMs: { p50: 30, p99: 120 } } });
    const final = await settle(batch, LEASE_MS + 20_000);
    const tookMs = Date.now() - killedAt;
    expect(pending, 'orders still in flight when the instance died').toBeGreaterThan(0);
    expect([...final.values()].every((s) => s === 'confirmed' || s === 'failed')).toBe(true);
    expect(tookMs).toBeLessThan(LEASE_MS + 15_000);
    console.info(`fleet: ${pending}/40 orders in flight on the killed instance; all settled ${tookMs} ms after the kill (lease ${LEASE_MS} ms)`);
    await expectEffectsOnce(final);
  }, 120_000);

  it('keeps taking orders while the broker is SIGKILLed for 10 s, reports it, and delivers every event to every group after', async () => {
    const up = instances.filter((i) => i.running);
    expect(up.length).toBe(2);
    const batch: Placed[] = [];
    let n = 0;
    let brokerDown = false;
    let readyWhileDown: Record<string, unknown> | undefined;
    const acceptedWhileDown: number[] = [];
    const placer = async (worker: number) => {
      while (n < 200) {
        const i = n++;
        if (i === 50) {
          await nats.kill('SIGKILL');
          brokerDown = true;
          setTimeout(() => void nats.restart().then(() => (brokerDown = false)), 10_000);
        }
        const order = await place(instances.indexOf(up[worker % up.length]!), 2_000 + i, 'broker-down');
        batch.push(order);
        if (brokerDown) acceptedWhileDown.push(i);
        if (brokerDown && !readyWhileDown) {
          // Give the client a moment to notice the connection is gone.
          await new Promise((r) => setTimeout(r, 2_500));
          readyWhileDown = (await call(up[0]!.origin, 'GET', '/readyz')).body;
        }
        await new Promise((r) => setTimeout(r, 40));
      }
    };
    await Promise.all([0, 1].map(placer));
    expect(acceptedWhileDown.length, 'orders answered 202 while the broker was down').toBeGreaterThan(10);
    expect(readyWhileDown).toMatchObject({ status: 'degraded', degraded: ['events'] });
    const final = await settle(batch, 90_000);
    await eventuallyPasses(async () => expect((await call(up[0]!.origin, 'GET', '/readyz')).body).toMatchObject({ status: 'ready' }));
    await expectEffectsOnce(final);
  }, 240_000);
});
