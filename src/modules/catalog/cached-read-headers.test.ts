import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, bearer, startTestMonolith, type TestMonolith } from '../../../test/support/monolith.ts';

/**
 * What a client and a shared cache see on the hot path: the headers of a cached product GET and of
 * its 304, by name and meaning. The hot path is tuned for CPU (lab hot-read); none of this may move.
 */
describe('a cached product GET and its 304 keep their headers', () => {
  let m: TestMonolith;
  let id: string;
  const get = (headers: Record<string, string> = {}) => m.app.inject({ method: 'GET', url: `/api/v1/products/${id}`, headers, remoteAddress: '10.9.9.9' });

  beforeAll(async () => {
    m = await startTestMonolith();
    const created = await m.app.inject({
      method: 'POST', url: '/api/v1/products', headers: bearer(await adminToken(m)),
      payload: { sku: 'HDR-1', name: 'Header Lamp', category: 'Outdoors', price: 1999, stock: 50 },
    });
    id = created.json().id;
    await get(); // the first read loads; the ones below are cache hits
  });
  afterAll(() => m.dispose());

  it('answers 200 with the same header names and values a cached read always had', async () => {
    const first = await get();
    const second = await get();
    expect(first.statusCode).toBe(200);
    expect(Object.keys(first.headers).sort()).toEqual([
      'cache-control', 'connection', 'content-length', 'content-type', 'date', 'etag',
      'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'x-request-id',
    ]);
    expect(first.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Number(first.headers['content-length'])).toBe(Buffer.byteLength(first.body));
    expect(first.headers.etag).toMatch(/^"p\d+-s\d+"$/);
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(first.headers['cache-control']).toMatch(/^public, max-age=(\d+), stale-while-revalidate=(\d+)$/);
    const [, maxAge, swr] = /max-age=(\d+), stale-while-revalidate=(\d+)/.exec(String(first.headers['cache-control']))!;
    expect(Number(swr)).toBe(Number(maxAge) * 10);
    // A fresh id per request, unless the client sent a sane one.
    expect(first.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
    expect((await get({ 'x-request-id': 'trace-42' })).headers['x-request-id']).toBe('trace-42');
    // The limiter counts every read, per client.
    expect(Number(first.headers['ratelimit-limit'])).toBeGreaterThan(0);
    expect(Number(second.headers['ratelimit-remaining'])).toBe(Number(first.headers['ratelimit-remaining']) - 1);
    expect(Number(first.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(1);
    expect(second.body).toBe(first.body);
    expect(first.json()).toMatchObject({ id, sku: 'HDR-1', price: 1999, stock: { available: 50, status: 'in_stock' } });
  });

  it('answers 304 with no body, the same tag, caching and limit headers', async () => {
    const fresh = await get();
    const notModified = await get({ 'if-none-match': String(fresh.headers.etag) });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.body).toBe('');
    expect(Object.keys(notModified.headers).sort()).toEqual([
      'cache-control', 'connection', 'date', 'etag', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'x-request-id',
    ]);
    expect(notModified.headers.etag).toBe(fresh.headers.etag);
    expect(notModified.headers['cache-control']).toBe(fresh.headers['cache-control']);
    expect(Number(notModified.headers['ratelimit-remaining'])).toBe(Number(fresh.headers['ratelimit-remaining']) - 1);
    expect((await get({ 'if-none-match': `W/${String(fresh.headers.etag)}, "other"` })).statusCode).toBe(304);
    expect((await get({ 'if-none-match': '"p0-s0"' })).statusCode).toBe(200);
  });

  it('over a socket, where cache hits skip routing, sends the same headers in the same order and sees a change at once', async () => {
    // inject() calls Fastify's handler directly; only a real connection meets the fast path (fast-reads.ts).
    await m.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = m.app.server.address() as AddressInfo;
    const fetchRaw = async (path: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
      return { status: response.status, headers: response.headers, body: await response.text() };
    };
    const names = (headers: Headers) => [...headers.keys()].sort();
    const get2 = (url: string) => m.app.inject({ method: 'GET', url, remoteAddress: '10.9.9.9' });
    const viaInject = await get();
    const fast = await fetchRaw(`/api/v1/products/${id}`);
    expect(fast.status).toBe(200);
    expect(fast.body).toBe(viaInject.body);
    expect(names(fast.headers)).toEqual(['cache-control', 'connection', 'content-length', 'content-type', 'date', 'etag', 'keep-alive', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'x-request-id']);
    for (const name of ['etag', 'cache-control', 'content-type', 'content-length', 'ratelimit-limit']) expect(fast.headers.get(name), name).toBe(String(viaInject.headers[name]));
    expect((await fetchRaw(`/api/v1/products/${id}`, { 'if-none-match': fast.headers.get('etag')! })).status).toBe(304);

    const changed = await m.app.inject({ method: 'PATCH', url: `/api/v1/products/${id}`, headers: bearer(await adminToken(m)), payload: { price: 2499 } });
    expect(changed.statusCode).toBe(200);
    const after = await fetchRaw(`/api/v1/products/${id}`, { 'if-none-match': fast.headers.get('etag')! });
    expect(after.status).toBe(200);
    expect(JSON.parse(after.body)).toMatchObject({ id, price: 2499 });
    expect(after.headers.get('etag')).not.toBe(fast.headers.get('etag'));

    // A first list page, plainly asked for, is served the same way; anything its schema must judge goes to the route.
    const listPath = '/api/v1/products?category=Outdoors&limit=5';
    const listed = await get2(listPath);
    await fetchRaw(listPath); // a hit from here on
    const listFast = await fetchRaw(listPath);
    expect(listFast.status).toBe(200);
    expect(listFast.body).toBe(listed.body);
    expect(JSON.parse(listFast.body).items).toEqual([expect.objectContaining({ id, price: 2499 })]);
    for (const name of ['etag', 'cache-control', 'content-type', 'content-length', 'ratelimit-limit']) expect(listFast.headers.get(name), name).toBe(String(listed.headers[name]));
    expect((await fetchRaw(listPath, { 'if-none-match': listFast.headers.get('etag')! })).status).toBe(304);
    for (const bad of ['category=', 'limit=0', 'limit=101', 'category=Outdoors&category=Garden', 'colour=red', 'limit=5&limit=6']) {
      const refused = await fetchRaw(`/api/v1/products?${bad}`);
      expect(refused.status, bad).toBe(400);
      expect(JSON.parse(refused.body).code, bad).toBe('VALIDATION_FAILED');
    }
    // A static sibling of the product route matches its id pattern; it still reaches its own route.
    const popular = await fetchRaw('/api/v1/products/popular');
    expect(popular.status).toBe(200);
    expect(Array.isArray(JSON.parse(popular.body).items)).toBe(true);
    await m.app.inject({ method: 'PATCH', url: `/api/v1/products/${id}`, headers: bearer(await adminToken(m)), payload: { price: 2599 } });
    expect(JSON.parse((await fetchRaw(listPath)).body).items).toEqual([expect.objectContaining({ id, price: 2599 })]);
  });

  it('counts both in the request metrics of the route', async () => {
    const metrics = (await m.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/products\/:id",status_code="200"\} \d+/);
    expect(metrics).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/products\/:id",status_code="304"\} \d+/);
  });
});
