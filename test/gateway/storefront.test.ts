import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startScalemartProcess, type Running } from '../support/process.ts';
import { INTERNAL_SECRET, JWT_SECRET, json, metric, startGatewayProcess, startRawUpstream, type RawUpstream, type RunningGateway } from './support.ts';

/** The hanging gateway's part deadline: the answer comes at it. */
const DEADLINE_MS = 300;
/**
 * Every other gateway's: a part no busy machine makes late, so a page there is whole unless a
 * pool is down (a refused connection fails at once, long before it).
 */
const GENEROUS_DEADLINE_MS = 10_000;
const ADMIN = { email: 'admin@gateway.test', password: 'admin-password-123' };
/** A busy 2-core machine (other suites, three processes here) can add this much to an answer. */
const MARGIN_MS = 400;

/**
 * `GET /api/v1/storefront/home` aggregated by real gateways in front of a real Scalemart
 * instance: one with the orders pool down (a port nothing listens on), one with it hanging, one
 * with every route on the live instance.
 */
describe('the home page aggregated at the gateway', () => {
  let dir: string;
  let live: Running;
  let livePort: number;
  let hanging: RawUpstream;
  let down: RunningGateway;
  let slow: RunningGateway;
  let whole: RunningGateway;
  let limited: RunningGateway;
  let own: RawUpstream;
  let routed: RunningGateway;
  let token: string;

  const routesFile = async (name: string, ordersUrl: string) => {
    const file = path.join(dir, `${name}.json`);
    const liveUrl = `http://127.0.0.1:${livePort}`;
    await writeFile(file, JSON.stringify({
      pools: { catalog: { upstreams: [liveUrl] }, orders: { upstreams: [ordersUrl] }, rest: { upstreams: [liveUrl] } },
      routes: [{ prefix: '/api/v1/products', pool: 'catalog' }, { prefix: '/api/v1/orders', pool: 'orders' }, { prefix: '/api/v1', pool: 'rest' }],
    }));
    return file;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scalemart-gw-storefront-'));
    livePort = await freePort();
    live = await startScalemartProcess({
      DATABASE_URL: 'memory://', SCALEMART_DATA_DIR: path.join(dir, 'data'), SEED_DEMO_PRODUCTS: '12',
      JWT_SECRET, INTERNAL_SECRET, RATE_LIMIT_POINTS: '100000', LOG_LEVEL: 'warn',
      ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password,
    }, livePort);
    // Accepts connections and requests, never answers them (its /readyz passes).
    hanging = await startRawUpstream(() => {});
    // A pool of its own for /api/v1/storefront: the gateway forwards the page there.
    own = await startRawUpstream((_request, socket) => json(socket, 200, { from: 'storefront-pool' }));
    const routedFile = path.join(dir, 'routed.json');
    await writeFile(routedFile, JSON.stringify({
      pools: { storefront: { upstreams: [own.url] }, rest: { upstreams: [`http://127.0.0.1:${livePort}`] } },
      routes: [{ prefix: '/api/v1/storefront', pool: 'storefront' }, { prefix: '/api/v1', pool: 'rest' }],
    }));
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const env = { STOREFRONT_PART_DEADLINE_MS: String(GENEROUS_DEADLINE_MS), RATE_LIMIT_POINTS: '100000', GATEWAY_HEALTH_INTERVAL_MS: '500' };
    [down, slow, whole, limited, routed] = await Promise.all([
      startGatewayProcess(['--routes', await routesFile('down', nobody)], await freePort(), env),
      startGatewayProcess(['--routes', await routesFile('slow', hanging.url)], await freePort(), { ...env, STOREFRONT_PART_DEADLINE_MS: String(DEADLINE_MS) }),
      startGatewayProcess(['--upstream', `http://127.0.0.1:${livePort}`], await freePort(), env),
      startGatewayProcess(['--upstream', `http://127.0.0.1:${livePort}`], await freePort(), { ...env, RATE_LIMIT_POINTS: '4' }),
      startGatewayProcess(['--routes', routedFile], await freePort(), env),
    ]);
    const signup = await fetch(`${down.origin}/api/v1/auth/signup`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'home@gateway.test', password: 'password-123', name: 'Home', country: 'DE' }),
    });
    expect(signup.status).toBe(201);
    token = ((await signup.json()) as { token: string }).token;
  }, 120_000);
  afterAll(async () => {
    await Promise.all([down, slow, whole, limited, routed].map((g) => g?.stop()));
    await hanging?.close();
    await own?.close();
    if (live?.child.exitCode === null) live.child.kill('SIGTERM');
    await live?.exited;
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  const home = async (gateway: RunningGateway, headers: Record<string, string> = {}) => {
    const started = performance.now();
    const response = await fetch(`${gateway.origin}/api/v1/storefront/home`, { headers, signal: AbortSignal.timeout(10_000) });
    const body = response.status === 200 ? ((await response.json()) as Record<string, unknown>) : { text: await response.text() };
    return { status: response.status, headers: response.headers, body, ms: performance.now() - started };
  };
  const bearer = () => ({ authorization: `Bearer ${token}` });

  it('answers a signed-in caller 200 with degraded ["orders"] when the orders pool is down, products present, without waiting for the deadline', async () => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await home(down, bearer());
      expect(r.status).toBe(200);
      expect(r.body.degraded).toEqual(['orders']);
      expect(r.body).not.toHaveProperty('orders');
      expect(r.body.featured).toHaveLength(8);
      expect((r.body.featured as Array<{ stock: { status: string } }>)[0]!.stock.status).toMatch(/^(in_stock|low_stock|out_of_stock)$/);
      expect(r.body.popular).toEqual(expect.any(Array));
      expect(r.headers.get('cache-control')).toBe('private, no-store');
      times.push(Math.round(r.ms));
    }
    console.log('storefront with the orders pool down, answer ms:', times.join(' '));
    for (const ms of times) expect(ms).toBeLessThan(DEADLINE_MS + MARGIN_MS);
    const text = await (await fetch(`${down.origin}/metrics`)).text();
    expect(metric(text, 'scalemart_aggregate_parts_degraded_total', 'aggregate="storefront_home",part="orders",reason="failed"')).toBe(5);
  });

  it('answers at the deadline with degraded ["orders"] when the orders upstream hangs', async () => {
    const r = await home(slow, bearer());
    console.log('storefront with the orders upstream hanging, answer ms:', Math.round(r.ms));
    expect(r.status).toBe(200);
    expect(r.body.degraded).toEqual(['orders']);
    expect(r.body.featured).toHaveLength(8);
    expect(r.ms).toBeGreaterThanOrEqual(DEADLINE_MS - 5);
    expect(r.ms).toBeLessThan(DEADLINE_MS + MARGIN_MS);
    // The late part's request was aborted at the deadline, not left running.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(hanging.abandoned).toContain('/api/v1/orders?limit=5');
  });

  it('gives anyone a cacheable page: ETag and Cache-Control, 304 for the current tag', async () => {
    const first = await home(down);
    expect(first.status).toBe(200);
    expect(first.body.degraded).toEqual([]);
    expect(first.body).not.toHaveProperty('orders');
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"h[\w-]+"$/);
    expect(first.headers.get('cache-control')).toMatch(/^public, max-age=\d+, stale-while-revalidate=\d+$/);
    expect(first.headers.get('vary')).toBe('Authorization, X-API-Key');
    const again = await home(down, { 'if-none-match': etag! });
    expect(again.status, `a second answer: ${JSON.stringify(again.body)}`).toBe(304);
    expect((await home(down, { 'if-none-match': '"hstale"' })).status).toBe(200);
    const head = await fetch(`${down.origin}/api/v1/storefront/home`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(etag);
    expect(await head.text()).toBe('');
  });

  it('with one pool for every route (--upstream), aggregates from it, orders included', async () => {
    const r = await home(whole, bearer());
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ degraded: [], orders: [], featured: expect.any(Array), popular: expect.any(Array) });
    expect(r.body.featured).toHaveLength(8);
  });

  it("counts the home page in the client's limit of its prefix, one budget with the proxied routes", async () => {
    const statuses: number[] = [];
    for (const url of ['/api/v1/storefront/home', '/api/v1/products?limit=1', '/api/v1/storefront/home', '/api/v1/products?limit=1', '/api/v1/storefront/home']) {
      const response = await fetch(`${limited.origin}${url}`);
      await response.arrayBuffer();
      statuses.push(response.status);
      if (response.status === 200) expect(response.headers.get('ratelimit-limit')).toBe('4');
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
  });

  it('refuses a forged principal and an invalid token at the edge', async () => {
    const forged = await home(whole, { 'x-scalemart-principal': 'eyJzdWIiOiJ4In0.forged' });
    expect(forged.status).toBe(200);
    expect(forged.body).not.toHaveProperty('orders');
    expect((await home(whole, { authorization: 'Bearer not-a-token' })).status).toBe(401);
  });

  it("gives an API-key caller the key owner's page, refuses an unknown key with 401, and cannot check a key with orders down", async () => {
    const login = await fetch(`${whole.origin}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
    expect(login.status).toBe(200);
    const admin = ((await login.json()) as { token: string }).token;
    const created = await fetch(`${whole.origin}/api/v1/admin/api-keys`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` }, body: JSON.stringify({ name: 'home-page', role: 'customer' }),
    });
    expect(created.status).toBe(201);
    const { key } = (await created.json()) as { key: string };

    const own = await home(whole, { 'x-api-key': key });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ degraded: [], orders: [], featured: expect.any(Array) });
    expect(own.headers.get('cache-control')).toBe('private, no-store');

    const unknown = await fetch(`${whole.origin}/api/v1/storefront/home`, { headers: { 'x-api-key': 'sm_unknown-key' } });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await unknown.json()).toMatchObject({ status: 401, code: 'INVALID_TOKEN' });

    // Nobody can check the key: public products only, in a private page that names what is missing.
    const unchecked = await home(down, { 'x-api-key': 'sm_unknown-key' });
    expect(unchecked.status).toBe(200);
    expect(unchecked.body.degraded).toEqual(['orders']);
    expect(unchecked.headers.get('cache-control')).toBe('private, no-store');
  });

  it('forwards the page when a routes file routes /api/v1/storefront to a pool itself', async () => {
    const r = await home(routed, bearer());
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ from: 'storefront-pool' });
    const got = own.requests.find((q) => q.path === '/api/v1/storefront/home');
    expect(got).toBeDefined();
    // Forwarded like any request: with the signed principal edge authentication made.
    expect(got!.headers['x-scalemart-principal']).toEqual(expect.any(String));
  });
});
