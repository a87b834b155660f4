import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN } from '../support/monolith.ts';
import { ADDRESS } from '../support/orders.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.ts';
import { freePort, startScalemartProcess, type Running } from '../support/process.ts';
import { INTERNAL_SECRET, JWT_SECRET, metric, sleep, startGatewayProcess, type RunningGateway } from './support.ts';

/**
 * Each upstream drains (readiness 503, Connection: close, the draining header, still serving) this
 * long after SIGTERM: the scaled stage's default. The gateway runs its default checks (every 2 s,
 * down after 3 failures: about 6 s to see an instance go), so only the draining header on the
 * instance's answers takes it out of rotation before it closes. Before the header, with checks
 * every 200 ms and a 2 s drain, an instance under CI load once closed while still in rotation and
 * a PATCH without Idempotency-Key (which the gateway rightly does not retry) failed with 502.
 */
const DRAIN_MS = 2_000;

/**
 * Three real Scalemart processes on one PostgreSQL database behind a real gateway. Under steady
 * load (GETs, order POSTs carrying Idempotency-Key, profile PATCHes without one) each instance in turn gets SIGTERM,
 * drains, exits, is started again on its port and is back in the gateway's rotation before the
 * next one goes. Not one request may fail.
 */
describe('a rolling restart of every upstream instance under load', () => {
  let database: ScratchDatabase;
  let dataDir: string;
  const upstreams: Array<{ port: number; env: Record<string, string>; running: Running }> = [];
  let gateway: RunningGateway;
  let client: Pool;

  beforeAll(async () => {
    database = await createScratchDatabase('scalemart_gw_roll');
    dataDir = await mkdtemp(path.join(tmpdir(), 'scalemart-gw-roll-'));
    for (let i = 0; i < 3; i++) {
      // One at a time: the first runs the migrations on the fresh database.
      const port = await freePort();
      const env = {
        DATABASE_URL: database.url, SCALEMART_DATA_DIR: path.join(dataDir, String(i)), SEED_DEMO_PRODUCTS: '0',
        JWT_SECRET, INTERNAL_SECRET, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password,
        RATE_LIMIT_POINTS: '100000000', LOG_LEVEL: 'warn', SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
      };
      upstreams.push({ port, env, running: await startScalemartProcess(env, port) });
    }
    gateway = await startGatewayProcess(['--upstream', upstreams.map((u) => `http://127.0.0.1:${u.port}`).join(','), '--balancer', 'round-robin'], await freePort(), {
      GATEWAY_SLOW_START_MS: '1000', RATE_LIMIT_POINTS: '100000000',
    });
    client = new Pool(gateway.origin, { connections: 32 });
  }, 180_000);
  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
    for (const u of upstreams) {
      if (u.running.child.exitCode === null && u.running.child.signalCode === null) u.running.child.kill('SIGTERM');
      await u.running.exited;
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await database?.drop();
  }, 60_000);

  const call = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
    const r = await client.request({
      method: method as 'GET', path: url,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.statusCode, body: (await r.body.json().catch(() => ({}))) as Record<string, unknown> };
  };
  const scrape = async () => (await client.request({ path: '/metrics', method: 'GET' }).then((r) => r.body.text()));
  const healthy = async (port: number) => metric(await scrape(), 'scalemart_gateway_upstream_healthy', `pool="default",instance="127.0.0.1:${port}"`);

  it('fails 0 requests', async () => {
    const admin = (await call('POST', '/api/v1/auth/login', ADMIN)).body.token as string;
    const created = await call('POST', '/api/v1/products', { sku: 'ROLL-1', name: 'Rolling', category: 'Roll', price: 500, stock: 1_000_000 }, { authorization: `Bearer ${admin}` });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const productId = created.body.id as string;
    const signup = await call('POST', '/api/v1/auth/signup', { email: 'roll@gateway.test', password: 'password-123', name: 'Roll', country: 'DE' });
    expect(signup.status).toBe(201);
    const token = signup.body.token as string;

    const results: Array<{ kind: string; status: number; error?: string; at: number }> = [];
    let sending = true;
    const started = performance.now();
    const inFlight = new Set<Promise<void>>();
    const send = (kind: string, method: string, url: string, body?: unknown, headers?: Record<string, string>) => {
      const p = call(method, url, body, headers).then(
        (r) => void results.push({ kind, status: r.status, at: performance.now() - started, ...(r.status >= 400 ? { error: JSON.stringify(r.body) } : {}) }),
        (e: Error) => void results.push({ kind, status: 0, error: e.message, at: performance.now() - started }),
      ).finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    // Open loop: every 10 ms a GET (list or product page); every 200 ms an order with its own
    // Idempotency-Key and a profile PATCH without one.
    const load = (async () => {
      for (let tick = 0; sending; tick++) {
        send('get', 'GET', tick % 2 === 0 ? '/api/v1/products?limit=5' : `/api/v1/products/${productId}`);
        // A write without Idempotency-Key, which the gateway never retries after it reached an instance.
        if (tick % 20 === 10) send('patch', 'PATCH', '/api/v1/users/me', { name: `Roll ${tick}` }, { authorization: `Bearer ${token}` });
        if (tick % 20 === 0) {
          send('order', 'POST', '/api/v1/orders', { items: [{ productId, quantity: 1 }], shippingAddress: ADDRESS },
            { authorization: `Bearer ${token}`, 'idempotency-key': `roll-${tick}` });
        }
        await sleep(Math.max(0, started + (tick + 1) * 10 - performance.now()));
      }
    })();

    await sleep(2_000);
    const restarts: Array<{ port: number; outMs: number; exitMs: number; backMs: number }> = [];
    for (const u of upstreams) {
      const t0 = performance.now();
      u.running.child.kill('SIGTERM');
      let outMs = -1;
      while (outMs < 0 && performance.now() - t0 < DRAIN_MS + 5_000) {
        if ((await healthy(u.port)) === 0) outMs = performance.now() - t0;
        else await sleep(50);
      }
      expect(await u.running.exited).toBe(0);
      const exitMs = performance.now() - t0;
      u.running = await startScalemartProcess(u.env, u.port);
      let backMs = -1;
      while (backMs < 0 && performance.now() - t0 < 60_000) {
        if ((await healthy(u.port)) === 1) backMs = performance.now() - t0;
        else await sleep(50);
      }
      expect(backMs, `instance ${u.port} never came back into rotation`).toBeGreaterThan(0);
      restarts.push({ port: u.port, outMs: Math.round(outMs), exitMs: Math.round(exitMs), backMs: Math.round(backMs) });
      // Let slow start bring it to its full share before the next instance goes.
      await sleep(1_500);
    }
    sending = false;
    await load;
    await Promise.all(inFlight);

    const expected: Record<string, number> = { get: 200, patch: 200, order: 202 };
    const failed = results.filter((r) => r.status !== expected[r.kind]);
    const text = await scrape();
    const summary = {
      requests: results.length, gets: results.filter((r) => r.kind === 'get').length, orders: results.filter((r) => r.kind === 'order').length, patches: results.filter((r) => r.kind === 'patch').length,
      failed: failed.length, seconds: Math.round((performance.now() - started) / 1000),
      retries: metric(text, 'scalemart_gateway_retries_total', 'pool="default"') ?? 0, restarts,
    };
    console.log('rolling restart:', JSON.stringify(summary), failed.slice(0, 10));
    expect(restarts.every((r) => r.outMs >= 0 && r.outMs < DRAIN_MS), JSON.stringify(restarts)).toBe(true);
    expect(results.length).toBeGreaterThan(1_000);
    expect(failed).toEqual([]);
  }, 180_000);
});
