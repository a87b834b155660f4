import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenService } from '../auth/tokens.ts';
import { createHttpApp } from '../http/create-app.ts';
import { createLogger } from '../observability/logger.ts';
import { createMetrics } from '../observability/metrics.ts';
import { createRateLimitPolicy, memoryRateLimiterStore } from '../ratelimit/rate-limiter.ts';
import { DependencyUnavailableError } from '../resilience/dependency-error.ts';
import { internalRoutes } from './internal-routes.ts';
import { INTERNAL_CALL_HEADER, signInternalCall, verifyInternalCall } from './internal-auth.ts';
import { createShelf, SECRET, serve, shelfContract } from './rpc-fixtures.ts';

const apps: FastifyInstance[] = [];
afterEach(async () => void (await Promise.all(apps.splice(0).map((a) => a.close()))));

async function served(): Promise<{ url: string; shelf: ReturnType<typeof createShelf> }> {
  const shelf = createShelf('a');
  const { url, app } = await serve(shelfContract, shelf);
  apps.push(app);
  return { url, shelf };
}

const post = (url: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('internal routes', () => {
  it('refuse an unsigned call, a forged one and one signed for another route with 401 INTERNAL_UNAUTHENTICATED', async () => {
    const { url, shelf } = await served();
    const path = '/internal/v1/shelf/get';
    const refusals = [
      await post(url, path, ['A-1']),
      await post(url, path, ['A-1'], { [INTERNAL_CALL_HEADER]: signInternalCall('not-the-secret-but-just-as-long-0123456789', 'test', `POST ${path}`) }),
      await post(url, path, ['A-1'], { [INTERNAL_CALL_HEADER]: signInternalCall(SECRET, 'test', 'POST /internal/v1/shelf/many') }),
      await post(url, path, ['A-1'], { [INTERNAL_CALL_HEADER]: signInternalCall(SECRET, 'test', `POST ${path}`, Date.now() - 60_000) }),
    ];
    for (const response of refusals) {
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ code: 'INTERNAL_UNAUTHENTICATED' });
    }
    expect(shelf.calls).toEqual([]);
    const signed = await post(url, path, ['A-1'], { [INTERNAL_CALL_HEADER]: signInternalCall(SECRET, 'test', `POST ${path}`) });
    expect(signed.status).toBe(200);
    expect(await signed.json()).toEqual({ result: { sku: 'A-1', available: 3 } });
  });

  it('refuse arguments their schema refuses with 400 VALIDATION_FAILED, without calling the api', async () => {
    const { url, shelf } = await served();
    const path = '/internal/v1/shelf/add';
    const response = await post(url, path, ['C-3', -1], { [INTERNAL_CALL_HEADER]: signInternalCall(SECRET, 'test', `POST ${path}`) });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: '1' }] });
    expect(shelf.calls).toEqual([]);
  });

  it('answer 500 when the api answers what its output schema refuses, and 503 when its own dependency is down', async () => {
    const shelf = createShelf('a');
    const { url, app } = await serve(shelfContract, {
      ...shelf,
      get: async () => ({ sku: 'A-1', available: 'three' }) as never,
      many: async () => Promise.reject(new DependencyUnavailableError('warehouse', 'down')),
    });
    apps.push(app);
    const bad = await post(url, '/internal/v1/shelf/get', ['A-1'], { [INTERNAL_CALL_HEADER]: signInternalCall(SECRET, 'test', 'POST /internal/v1/shelf/get') });
    expect(bad.status).toBe(500);
    const down = await post(url, '/internal/v1/shelf/many', [['A-1']], { [INTERNAL_CALL_HEADER]: signInternalCall(SECRET, 'test', 'POST /internal/v1/shelf/many') });
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
  });

  it('serve no route for a local-only method', async () => {
    const { url } = await served();
    const response = await post(url, '/internal/v1/shelf/watch', [], { [INTERNAL_CALL_HEADER]: signInternalCall(SECRET, 'test', 'POST /internal/v1/shelf/watch') });
    expect(response.status).toBe(404);
  });
});

describe('internal routes in the process\'s own HTTP app', () => {
  it('answer signed calls and domain errors through their own handler, and stay out of the public API document', async () => {
    const app = await createHttpApp({
      logger: createLogger('silent'),
      metrics: createMetrics({ defaultMetrics: false }),
      readiness: { started: () => true, check: async () => undefined },
      tokens: createTokenService({ secret: 'x'.repeat(32), ttlSeconds: 60 }),
      resolveApiKey: async () => null,
      rateLimits: createRateLimitPolicy({ store: memoryRateLimiterStore, points: 1000, windowSeconds: 60, routes: {} }),
      bodyLimitBytes: 64 * 1024,
      version: 'test',
    });
    apps.push(app);
    await app.register(internalRoutes(shelfContract, createShelf('a'), { secret: SECRET }));
    await app.ready();
    const call = (method: string, args: unknown[]) => app.inject({
      method: 'POST', url: `/internal/v1/shelf/${method}`, payload: args,
      headers: { [INTERNAL_CALL_HEADER]: signInternalCall(SECRET, 'test', `POST /internal/v1/shelf/${method}`) },
    });
    expect((await call('many', [['A-1']])).json()).toEqual({ result: { 'A-1': { sku: 'A-1', available: 3 } } });
    const taken = await call('add', ['taken', 1]);
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ code: 'SKU_TAKEN' });
    const document = (await app.inject({ url: '/docs/json' })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(document.paths).filter((p) => p.startsWith('/internal'))).toEqual([]);
  });
});

describe('the internal call signature', () => {
  it('names the caller for its route until it expires, and nothing for a malformed value', () => {
    const value = signInternalCall(SECRET, 'orders', 'POST /x', 1_000, 30_000);
    expect(verifyInternalCall(value, SECRET, 'POST /x', 30_999)).toBe('orders');
    expect(verifyInternalCall(value, SECRET, 'POST /x', 31_000)).toBeNull();
    expect(verifyInternalCall(value, SECRET, 'POST /y', 2_000)).toBeNull();
    expect(verifyInternalCall(value.replace('orders', 'catalog'), SECRET, 'POST /x', 2_000)).toBeNull();
    for (const junk of [undefined, '', 'a.b', 'a.b.c.d', '1.orders.', ['x']]) expect(verifyInternalCall(junk, SECRET, 'POST /x', 2_000)).toBeNull();
  });
});
