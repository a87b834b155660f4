import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenService } from '../auth/tokens.ts';
import { DependencyUnavailableError } from '../resilience/dependency-error.ts';
import { createLogger } from '../observability/logger.ts';
import { createMetrics } from '../observability/metrics.ts';
import { createRateLimitPolicy, memoryRateLimiterStore } from '../ratelimit/rate-limiter.ts';
import { createHttpApp, type HttpApp } from './create-app.ts';

async function buildApp(rateLimitPoints = 1000, trustedProxies: string[] = []): Promise<HttpApp> {
  const app = await createHttpApp({
    trustedProxies,
    logger: createLogger('silent'),
    metrics: createMetrics({ defaultMetrics: false }),
    readiness: { started: () => true, check: async () => undefined },
    tokens: createTokenService({ secret: 'x'.repeat(32), ttlSeconds: 60 }),
    resolveApiKey: async () => null,
    rateLimits: createRateLimitPolicy({ store: memoryRateLimiterStore, points: rateLimitPoints, windowSeconds: 60, routes: { 'POST /api/v1/limited': 2 } }),
    bodyLimitBytes: 1024,
    version: 'test',
  });
  app.post('/api/v1/echo', { schema: { body: Type.Object({ n: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }) } }, async (request) => request.body);
  app.post('/api/v1/limited', async () => ({ ok: true }));
  app.get('/api/v1/boom', async () => {
    throw new Error('relation "secret_table" does not exist at SELECT * FROM secret_table');
  });
  app.get('/api/v1/ping', async () => ({ ok: true }));
  app.get('/api/v1/down', async () => {
    throw new DependencyUnavailableError('payments', 'timed out after 2000 ms');
  });
  await app.ready();
  return app;
}

describe('the HTTP edge', () => {
  let app: HttpApp;
  beforeAll(async () => {
    app = await buildApp();
  });
  afterAll(() => app.close());

  it('puts X-Request-Id on every answer: operations and docs routes, unmatched paths, refused credentials', async () => {
    for (const request of [{ url: '/livez' }, { url: '/docs' }, { url: '/nowhere' }, { url: '/api/v1/ping', headers: { authorization: 'Bearer nope' } }]) {
      const response = await app.inject(request);
      expect(response.headers['x-request-id'], request.url).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect((await app.inject({ url: '/api/v1/ping', headers: { authorization: 'Bearer nope' } })).statusCode).toBe(401);
  });

  it('echoes a sane X-Request-Id and replaces one that could forge log lines', async () => {
    expect((await app.inject({ url: '/api/v1/ping', headers: { 'x-request-id': 'abc-123' } })).headers['x-request-id']).toBe('abc-123');
    const replaced = await app.inject({ url: '/api/v1/ping', headers: { 'x-request-id': 'bad id\nfake log' } });
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers malformed JSON, wrong types, unknown fields and oversized bodies with problems', async () => {
    const post = (payload: string, type = 'application/json') => app.inject({ method: 'POST', url: '/api/v1/ping', payload, headers: { 'content-type': type } });
    const echo = (payload: string, type = 'application/json') => app.inject({ method: 'POST', url: '/api/v1/echo', payload, headers: { 'content-type': type } });
    expect((await post('{}')).statusCode).toBe(404);

    const malformed = await echo('{"n": 1');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toMatchObject({ code: 'VALIDATION_FAILED', status: 400, type: '/problems/validation-failed' });

    const wrongType = await echo('{"n": "1"}');
    expect(wrongType.json().errors).toEqual([{ field: 'n', message: 'must be integer' }]);
    expect((await echo('{"n": 0}')).json().errors[0].field).toBe('n');
    expect((await echo('{"n": 1, "extra": true}')).json().errors).toEqual([{ field: 'extra', message: 'is not an allowed field' }]);

    const huge = await echo(JSON.stringify({ n: 1, pad: 'x'.repeat(2000) }));
    expect(huge.statusCode).toBe(413);
    expect(huge.json().code).toBe('PAYLOAD_TOO_LARGE');
    expect((await echo('n=1', 'application/x-www-form-urlencoded')).statusCode).toBe(415);
  });

  it('hides internals behind a 500 problem', async () => {
    const response = await app.inject({ url: '/api/v1/boom' });
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.body).not.toMatch(/secret_table|SELECT|at /);
    expect(response.json().code).toBe('INTERNAL');
  });

  it('answers 503 DEPENDENCY_UNAVAILABLE with Retry-After when an outside system fails', async () => {
    const response = await app.inject({ url: '/api/v1/down' });
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', detail: expect.stringContaining('payments') });
  });

  it('answers an unknown route with a 404 problem', async () => {
    const response = await app.inject({ url: '/api/v1/nothing-here' });
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('NOT_FOUND');
  });

  it('limits per route and per client, with RateLimit headers and Retry-After', async () => {
    const send = (ip: string) => app.inject({ method: 'POST', url: '/api/v1/limited', remoteAddress: ip });
    const first = await send('10.0.0.1');
    expect(first.headers['ratelimit-limit']).toBe('2');
    expect(first.headers['ratelimit-remaining']).toBe('1');
    await send('10.0.0.1');
    const refused = await send('10.0.0.1');
    expect(refused.statusCode).toBe(429);
    expect(refused.json().code).toBe('RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect((await send('10.0.0.2')).statusCode).toBe(200);
    const otherRoute = await app.inject({ url: '/api/v1/ping', remoteAddress: '10.0.0.1' });
    expect(otherRoute.statusCode).toBe(200);
    expect(otherRoute.headers['ratelimit-limit']).toBe('1000');
  });

  it('exposes health, readiness and request metrics', async () => {
    expect((await app.inject({ url: '/livez' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/readyz' })).json()).toEqual({ status: 'ready' });
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/ping",status_code="200"\} \d+/);
  });
});

describe('readiness', () => {
  it('is 503 until started and while a dependency fails', async () => {
    let started = false;
    let healthy = true;
    const app = await createHttpApp({
      logger: createLogger('silent'),
      metrics: createMetrics({ defaultMetrics: false }),
      readiness: { started: () => started, check: async () => { if (!healthy) throw new Error('database down'); } },
      tokens: createTokenService({ secret: 'x'.repeat(32), ttlSeconds: 60 }),
      resolveApiKey: async () => null,
      rateLimits: createRateLimitPolicy({ store: memoryRateLimiterStore, points: 10, windowSeconds: 60, routes: {} }),
      bodyLimitBytes: 1024,
      version: 'test',
    });
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(503);
    started = true;
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    healthy = false;
    const down = await app.inject({ url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.json().reason).toBe('database down');
    await app.close();
  });
});

describe('behind a gateway', () => {
  const limited = (app: HttpApp, remoteAddress: string, forwardedFor?: string) =>
    app.inject({ method: 'POST', url: '/api/v1/limited', remoteAddress, headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {} });

  it('limits each client named by a trusted proxy on its own, not the proxy as one client', async () => {
    const app = await buildApp(1000, ['10.0.0.1']);
    try {
      // Two clients, 2 requests each (the route's limit), all through the same gateway address.
      for (const client of ['203.0.113.7', '203.0.113.8']) {
        expect((await limited(app, '10.0.0.1', client)).statusCode).toBe(200);
        expect((await limited(app, '10.0.0.1', client)).statusCode).toBe(200);
      }
      expect((await limited(app, '10.0.0.1', '203.0.113.7')).statusCode).toBe(429);
    } finally {
      await app.close();
    }
  });

  it('ignores X-Forwarded-For from an address it does not trust', async () => {
    const app = await buildApp(1000, ['10.0.0.1']);
    try {
      // A client that names someone new on every request still spends its own address's points.
      expect((await limited(app, '198.51.100.9', '203.0.113.1')).statusCode).toBe(200);
      expect((await limited(app, '198.51.100.9', '203.0.113.2')).statusCode).toBe(200);
      expect((await limited(app, '198.51.100.9', '203.0.113.3')).statusCode).toBe(429);
    } finally {
      await app.close();
    }
  });
});
