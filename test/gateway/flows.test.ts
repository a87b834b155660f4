import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.ts';
import { freePort, startScalemartProcess, type Running } from '../support/process.ts';
import { ADMIN } from '../support/monolith.ts';
import { ADDRESS } from '../support/orders.ts';
import { INTERNAL_SECRET, JWT_SECRET, metric, sleep, startGatewayProcess, type RunningGateway } from './support.ts';

/**
 * The black-box flows through a gateway in front of two Scalemart processes sharing one
 * PostgreSQL database (and the same JWT and internal secrets), round-robin so that consecutive
 * requests of one client land on different instances.
 */
describe('the public API through the gateway, two instances on one database', () => {
  let database: ScratchDatabase;
  let dataDir: string;
  const upstreams: Running[] = [];
  const ports: number[] = [];
  let gateway: RunningGateway;

  beforeAll(async () => {
    database = await createScratchDatabase('scalemart_gw');
    dataDir = await mkdtemp(path.join(tmpdir(), 'scalemart-gw-flows-'));
    for (let i = 0; i < 2; i++) {
      // One at a time: the first runs the migrations on the fresh database.
      const port = await freePort();
      ports.push(port);
      upstreams.push(await startScalemartProcess({
        DATABASE_URL: database.url, SCALEMART_DATA_DIR: path.join(dataDir, String(i)), SEED_DEMO_PRODUCTS: '0',
        JWT_SECRET, INTERNAL_SECRET, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password,
        RATE_LIMIT_POINTS: '100000', LOG_LEVEL: 'warn',
      }, port));
    }
    gateway = await startGatewayProcess(['--upstream', ports.map((p) => `http://127.0.0.1:${p}`).join(','), '--balancer', 'round-robin'], await freePort(), {
      GATEWAY_HEALTH_INTERVAL_MS: '500',
    });
  }, 180_000);
  afterAll(async () => {
    await gateway?.stop();
    for (const u of upstreams) {
      u.child.kill('SIGTERM');
      await u.exited;
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await database?.drop();
  }, 60_000);

  const call = async (method: string, url: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) => {
    const response = await fetch(`${gateway.origin}${url}`, {
      method,
      headers: { ...(options.body ? { 'content-type': 'application/json' } : {}), ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers },
      body: options.body ? JSON.stringify(options.body) : undefined,
      signal: AbortSignal.timeout(15_000),
    });
    const type = response.headers.get('content-type') ?? '';
    const body = type.includes('json') ? ((await response.json()) as Record<string, unknown>) : { bytes: (await response.arrayBuffer()).byteLength };
    return { status: response.status, headers: response.headers, body };
  };
  const eventually = async <T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await read();
      if (ok(value)) return value;
      if (Date.now() > deadline) throw new Error(`not met in time: ${JSON.stringify(value)}`);
      await sleep(100);
    }
  };

  it('signs up, logs in, browses, orders, reads history and invoice, cancels; admin routes for admins only', async () => {
    const signup = await call('POST', '/api/v1/auth/signup', { body: { email: 'gw-buyer@example.com', password: 'password-123', name: 'Buyer', country: 'DE' } });
    expect(signup.status, JSON.stringify(signup.body)).toBe(201);
    expect(signup.headers.get('ratelimit-limit')).not.toBeNull();
    expect(signup.headers.get('x-request-id')).not.toBeNull();
    const login = await call('POST', '/api/v1/auth/login', { body: { email: 'gw-buyer@example.com', password: 'password-123' } });
    expect(login.status).toBe(200);
    const token = login.body.token as string;
    expect((await call('GET', '/api/v1/users/me', { token })).body).toMatchObject({ email: 'gw-buyer@example.com' });
    expect((await call('POST', '/api/v1/auth/login', { body: { email: 'gw-buyer@example.com', password: 'wrong-password' } })).body).toMatchObject({ code: 'INVALID_CREDENTIALS' });

    const admin = (await call('POST', '/api/v1/auth/login', { body: ADMIN })).body.token as string;
    const refused = await call('POST', '/api/v1/products', { token, body: { sku: 'GW-0', name: 'Nope', category: 'Gateway', price: 100, stock: 1 } });
    expect(refused.status).toBe(403);
    const created = await call('POST', '/api/v1/products', { token: admin, body: { sku: 'GW-1', name: 'Through the gateway', category: 'Gateway', price: 1250, stock: 10 } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const productId = created.body.id as string;

    // Browsing: both instances see it (each asked in turn by round-robin).
    for (let i = 0; i < 2; i++) {
      await eventually(() => call('GET', '/api/v1/products?category=Gateway'), (r) => (r.body.items as unknown[]).length === 1);
    }
    const product = await call('GET', `/api/v1/products/${productId}`);
    expect(product.body).toMatchObject({ id: productId, price: 1250 });
    expect(product.headers.get('etag')).not.toBeNull();

    const placed = await call('POST', '/api/v1/orders', { token, headers: { 'idempotency-key': 'gw-order-1' }, body: { items: [{ productId, quantity: 2 }], shippingAddress: ADDRESS } });
    expect(placed.status, JSON.stringify(placed.body)).toBe(202);
    const orderId = placed.body.id as string;
    expect(placed.headers.get('location')).toBe(`/api/v1/orders/${orderId}`);
    const again = await call('POST', '/api/v1/orders', { token, headers: { 'idempotency-key': 'gw-order-1' }, body: { items: [{ productId, quantity: 2 }], shippingAddress: ADDRESS } });
    expect(again.body.id).toBe(orderId); // the same key on the other instance: the first result

    const confirmed = await eventually(() => call('GET', `/api/v1/orders/${orderId}`, { token }), (r) => r.body.status !== 'pending');
    expect(confirmed.body.status).toBe('confirmed');
    const history = await eventually(() => call('GET', '/api/v1/orders', { token }), (r) => (r.body.items as Array<{ id: string }>).some((o) => o.id === orderId));
    expect(history.status).toBe(200);
    const invoice = await eventually(() => call('GET', `/api/v1/orders/${orderId}/invoice`, { token }), (r) => r.status === 200);
    expect(invoice.headers.get('content-type')).toBe('application/pdf');

    const other = (await call('POST', '/api/v1/auth/signup', { body: { email: 'gw-other@example.com', password: 'password-123', name: 'Other', country: 'FR' } })).body.token as string;
    expect((await call('GET', `/api/v1/orders/${orderId}`, { token: other })).status).toBe(404);

    const cancelled = await call('POST', `/api/v1/orders/${orderId}/cancel`, { token });
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBeLessThan(300);
    await eventually(() => call('GET', `/api/v1/orders/${orderId}`, { token }), (r) => r.body.status === 'cancelled');

    // An API key made by the admin, forwarded by the gateway and resolved by the upstream.
    const key = await call('POST', '/api/v1/admin/api-keys', { token: admin, body: { name: 'gateway-test', role: 'admin' } });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    const byKey = await call('GET', '/api/v1/admin/orders', { headers: { 'x-api-key': key.body.key as string } });
    expect(byKey.status, JSON.stringify(byKey.body)).toBe(200);
    expect((await call('GET', '/api/v1/admin/orders', { token })).status).toBe(403);

    // Both instances served the flows.
    const text = await (await fetch(`${gateway.origin}/metrics`)).text();
    for (const port of ports) expect(metric(text, 'scalemart_gateway_upstream_requests_total', `pool="default",instance="127.0.0.1:${port}"`)).toBeGreaterThan(5);
  }, 120_000);
});
