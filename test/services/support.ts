import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { ADMIN } from '../support/monolith.ts';
import { ADDRESS } from '../support/orders.ts';
import { startPrivateNats } from '../support/nats.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.ts';
import { freePort, startScalemartProcess, type Running } from '../support/process.ts';

export const JWT_SECRET = 'services-test-jwt-secret-0123456789abcdef';
export const INTERNAL_SECRET = 'services-test-internal-secret-0123456789abcdef';

/**
 * The split the service tests run, each service in a database of its own (`DATABASE_PER_SERVICE`,
 * on a scratch database's server) and the events between them on a private NATS JetStream:
 * - s = the order saga's callees and notifications (inventory, payments, shipping, notifications),
 * - i = identity,
 * - b = catalog and orders, reaching s and i through their contracts' HTTP clients.
 */
export type ServiceName = 's' | 'i' | 'b';
export const S_MODULES = 'inventory,payments,shipping,notifications';

export interface Answer {
  status: number;
  type: string;
  body: Record<string, unknown>;
  ms: number;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ServiceSplit {
  origin: Record<ServiceName, string>;
  /** Starts one process on its port with the common environment under `env`. */
  start(name: ServiceName, env: Record<string, string>): Promise<void>;
  /** SIGTERM and wait for the exit; nothing when it is not running. */
  stop(name: ServiceName): Promise<void>;
  /** The standard start: s, then i, then b (which seeds `products` demo products), one at a time. */
  startAll(extra?: Partial<Record<ServiceName, Record<string, string>>>, products?: number): Promise<void>;
  /** Stops every process, drops the database and the data directory. */
  close(): Promise<void>;
  call(at: ServiceName, method: string, url: string, options?: CallOptions): Promise<Answer>;
  /** Signs up and logs a customer in on i; returns the token. */
  logIn(email: string): Promise<string>;
  /**
   * A customer logged in, an admin's token, one product created on B with `stock`, and the ids of
   * the first products B lists (the seeded catalog).
   */
  openShop(email: string, sku: string, stock: number): Promise<{ token: string; admin: string; productId: string; seeded: string[] }>;
  order(token: string, productId: string, quantity?: number): Promise<Answer>;
}

export async function createServiceSplit(prefix: string): Promise<ServiceSplit> {
  const database: ScratchDatabase = await createScratchDatabase(prefix);
  const nats = await startPrivateNats({ port: await freePort() });
  const dataDir = await mkdtemp(path.join(tmpdir(), 'scalemart-services-'));
  const origin: Record<ServiceName, string> = { s: '', i: '', b: '' };
  for (const name of ['s', 'i', 'b'] as const) origin[name] = `http://127.0.0.1:${await freePort()}`;
  const running: Partial<Record<ServiceName, Running>> = {};
  const common = () => ({
    DATABASE_URL: database.url, JWT_SECRET, INTERNAL_SECRET, RATE_LIMIT_POINTS: '100000', LOG_LEVEL: 'warn', SEED_DEMO_PRODUCTS: '0', SCALEMART_ROLE: 'service',
    DATABASE_PER_SERVICE: 'true', EVENTS_TRANSPORT: 'jetstream', NATS_URL: nats.url,
  });

  const split: ServiceSplit = {
    origin,
    async start(name, env) {
      const port = Number(new URL(origin[name]).port);
      running[name] = await startScalemartProcess({ ...common(), SCALEMART_DATA_DIR: path.join(dataDir, name), ...env }, port);
    },
    async stop(name) {
      const proc = running[name];
      if (!proc) return;
      delete running[name];
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
      await proc.exited;
    },
    async startAll(extra = {}, products = 6) {
      // One at a time: S and I before B, whose start seeds products with their stock on S and users on I.
      await split.start('s', { SCALEMART_MODULES: S_MODULES, ...extra.s });
      await split.start('i', { SCALEMART_MODULES: 'identity', ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, ...extra.i });
      // B seeds the demo catalog: products here, their stock on S, demo users on I.
      await split.start('b', {
        SCALEMART_MODULES: 'catalog,orders', SEED_DEMO_PRODUCTS: String(products),
        SERVICE_URLS: `inventory=${origin.s};payments=${origin.s};shipping=${origin.s};notifications=${origin.s};identity=${origin.i}`,
        SAGA_STEP_ATTEMPTS: '2', SAGA_STEP_TIMEOUT_MS: '1000',
        ...extra.b,
      });
    },
    async close() {
      try {
        for (const name of ['b', 'i', 's'] as const) await split.stop(name);
      } finally {
        await rm(dataDir, { recursive: true, force: true });
        await nats.stop();
        await database.drop();
      }
    },
    async call(at, method, url, options = {}) {
      const started = performance.now();
      const response = await fetch(`${origin[at]}${url}`, {
        method,
        headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers },
        body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
        signal: AbortSignal.timeout(15_000),
      });
      const type = response.headers.get('content-type') ?? '';
      const body = type.includes('json') ? ((await response.json()) as Record<string, unknown>) : { bytes: Buffer.from(await response.arrayBuffer()) };
      return { status: response.status, type, body, ms: performance.now() - started };
    },
    async logIn(email) {
      const signup = await split.call('i', 'POST', '/api/v1/auth/signup', { body: { email, password: 'password-123', name: 'Buyer', country: 'DE' } });
      expect(signup.status, JSON.stringify(signup.body)).toBe(201);
      const login = await split.call('i', 'POST', '/api/v1/auth/login', { body: { email, password: 'password-123' } });
      expect(login.status).toBe(200);
      return login.body.token as string;
    },
    async openShop(email, sku, stock) {
      const token = await split.logIn(email);
      const admin = (await split.call('i', 'POST', '/api/v1/auth/login', { body: ADMIN })).body.token as string;
      const created = await split.call('b', 'POST', '/api/v1/products', { token: admin, body: { sku, name: `Product ${sku}`, category: 'Test', price: 900, stock } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const seeded = ((await split.call('b', 'GET', '/api/v1/products?limit=6')).body.items as Array<{ id: string }>).map((p) => p.id);
      return { token, admin, productId: created.body.id as string, seeded };
    },
    order: (token, productId, quantity = 1) =>
      split.call('b', 'POST', '/api/v1/orders', { token, body: { items: [{ productId, quantity }], shippingAddress: ADDRESS } }),
  };
  return split;
}

/** Polls `read` every 100 ms until `ok` holds; fails with the last value after `ms`. */
export async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`not met in ${ms} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The value of one series in Prometheus text (`labels` as printed, e.g. `dependency="payments"`), or undefined. */
export function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : undefined;
}
