import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenService } from '../auth/tokens.ts';
import { createMetrics } from '../observability/metrics.ts';
import { createRateLimitPolicy, memoryRateLimiterStore } from '../ratelimit/rate-limiter.ts';
import { createHttpApp, type HttpApp } from './create-app.ts';
import type { FastView } from './fast-reads.ts';
import { publicCacheControl, sendNotModifiedIfFresh } from './http-cache.ts';

interface Answer {
  status: number;
  /** Header names and values in the order they were sent. */
  raw: [string, string][];
  headers: Record<string, string>;
  body: string;
}

/** A GET over a real socket: the fast path sits in front of Fastify's handler, where `inject` never goes. */
function get(origin: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${origin}${path}`, { method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => {
        const raw: [string, string][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) raw.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
        resolve({ status: res.statusCode!, raw, headers: Object.fromEntries(raw.map(([k, v]) => [k.toLowerCase(), v])), body });
      });
    });
    req.on('error', reject).end();
  });
}

const views = new Map<string, FastView>([['a1', view('"t1"', JSON.stringify({ id: 'a1', name: 'Lamp' }))]]);
function view(etag: string, body: string): FastView {
  return { etag, body, length: Buffer.byteLength(body) };
}

async function buildApp(options: { points?: number; trustedProxies?: string[]; logLines?: string[] } = {}) {
  const reads: string[] = [];
  const logLines = options.logLines;
  const logger = logLines
    ? pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _encoding, done) => (logLines.push(chunk.toString()), done()) }))
    : pino({ level: 'silent' });
  const app: HttpApp = await createHttpApp({
    logger,
    metrics: createMetrics({ defaultMetrics: false }),
    readiness: { started: () => true, check: async () => undefined },
    tokens: createTokenService({ secret: 'x'.repeat(32), ttlSeconds: 60 }),
    resolveApiKey: async () => null,
    rateLimits: createRateLimitPolicy({ store: memoryRateLimiterStore, points: options.points ?? 1000, windowSeconds: 60, routes: {} }),
    bodyLimitBytes: 1024,
    version: 'test',
    trustedProxies: options.trustedProxies,
  });
  const cacheControl = publicCacheControl(30);
  // The route answers what the fast path answers, the way the catalog's product route does.
  app.fastRead({
    url: '/api/v1/things/:id',
    param: /^[a-z0-9]{1,8}$/,
    cacheControl,
    read(id) {
      reads.push(id);
      return views.get(id);
    },
  });
  app.get<{ Params: { id: string } }>('/api/v1/things/:id', (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    const found = views.get(request.params.id);
    if (!found) return reply.code(404).send({ title: 'Not Found' });
    if (sendNotModifiedIfFresh(request, reply, found.etag, cacheControl)) return reply;
    return reply.type('application/json; charset=utf-8').send(found.body);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { app, reads, origin: `http://127.0.0.1:${address.port}` };
}

/** Headers that differ between any two answers: the id, the date, the count left. */
const PER_ANSWER = new Set(['x-request-id', 'date', 'ratelimit-remaining']);
const comparable = (answer: Answer) => answer.raw.map(([name, value]) => [name, PER_ANSWER.has(name.toLowerCase()) ? '*' : value]);

describe('fast reads: a cached public GET answered before routing', () => {
  let built: Awaited<ReturnType<typeof buildApp>>;
  beforeAll(async () => {
    built = await buildApp();
  });
  afterAll(() => built.app.close());

  it('sends the bytes, headers and header order that the Fastify route sends', async () => {
    const fast = await get(built.origin, '/api/v1/things/a1');
    expect(built.reads).toEqual(['a1']);
    // A query string is not the fast path's: Fastify's route answers the same resource.
    const routed = await get(built.origin, '/api/v1/things/a1?via=fastify');
    expect(built.reads).toEqual(['a1']);
    expect(fast.status).toBe(200);
    expect(fast.body).toBe(JSON.stringify({ id: 'a1', name: 'Lamp' }));
    expect(fast.body).toBe(routed.body);
    expect(comparable(fast)).toEqual(comparable(routed));
    expect(fast.raw.map(([name]) => name)).toEqual([
      'x-request-id', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'etag', 'cache-control',
      'content-type', 'content-length', 'Date', 'Connection',
    ]);
    expect(fast.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a current If-None-Match with the same 304 as the route', async () => {
    const fast = await get(built.origin, '/api/v1/things/a1', { 'if-none-match': 'W/"t1", "other"' });
    const routed = await get(built.origin, '/api/v1/things/a1?via=fastify', { 'if-none-match': 'W/"t1", "other"' });
    expect(fast.status).toBe(304);
    expect(fast.body).toBe('');
    expect(comparable(fast)).toEqual(comparable(routed));
    expect((await get(built.origin, '/api/v1/things/a1', { 'if-none-match': '"t0"' })).status).toBe(200);
  });

  it('counts the fast path and the route against one limit per client, and echoes a sane request id', async () => {
    const first = await get(built.origin, '/api/v1/things/a1');
    const routed = await get(built.origin, '/api/v1/things/a1?via=fastify');
    const fast = await get(built.origin, '/api/v1/things/a1', { 'x-request-id': 'trace-42' });
    expect(Number(routed.headers['ratelimit-remaining'])).toBe(Number(first.headers['ratelimit-remaining']) - 1);
    expect(Number(fast.headers['ratelimit-remaining'])).toBe(Number(routed.headers['ratelimit-remaining']) - 1);
    expect(fast.headers['x-request-id']).toBe('trace-42');
    expect((await get(built.origin, '/api/v1/things/a1', { 'x-request-id': 'bad id"' })).headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('leaves to Fastify what it must check or cannot answer: credentials, HEAD, misses, bad parameters', async () => {
    const before = built.reads.length;
    expect((await get(built.origin, '/api/v1/things/a1', { authorization: 'Bearer not-a-token' })).status).toBe(401);
    expect((await get(built.origin, '/api/v1/things/a1', { 'x-api-key': 'unknown' })).status).toBe(401);
    // A gateway's forwarded principal is Fastify's to verify (without the secret it is ignored: 200).
    expect((await get(built.origin, '/api/v1/things/a1', { 'x-scalemart-principal': 'forged' })).status).toBe(200);
    expect(built.reads.length).toBe(before);
    const head = await get(built.origin, '/api/v1/things/a1', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(views.get('a1')!.length));
    expect((await get(built.origin, '/api/v1/things/zz')).status).toBe(404);
    expect((await get(built.origin, '/api/v1/things/NOT_OK')).status).toBe(404);
    expect(built.reads.length).toBe(before + 1); // only the miss asked the cache
  });

  it('records each answer in the route\'s request metrics', async () => {
    const count = async (status: number) => {
      const metrics = (await get(built.origin, '/metrics')).body;
      const found = new RegExp(`http_request_duration_seconds_count\\{method="GET",route="/api/v1/things/:id",status_code="${status}"\\} (\\d+)`).exec(metrics);
      return Number(found?.[1] ?? 0);
    };
    const [ok, notModified] = [await count(200), await count(304)];
    const reads = built.reads.length;
    await get(built.origin, '/api/v1/things/a1');
    await get(built.origin, '/api/v1/things/a1', { 'if-none-match': '"t1"' });
    expect(built.reads.length).toBe(reads + 2);
    expect(await count(200)).toBe(ok + 1);
    expect(await count(304)).toBe(notModified + 1);
  });
});

describe('fast reads under a limit, behind a proxy, with the request log on', () => {
  it('refuses over the limit with the route\'s 429 problem and Retry-After', async () => {
    const { app, origin } = await buildApp({ points: 2 });
    try {
      expect((await get(origin, '/api/v1/things/a1')).headers['ratelimit-remaining']).toBe('1');
      expect((await get(origin, '/api/v1/things/a1')).headers['ratelimit-remaining']).toBe('0');
      const refused = await get(origin, '/api/v1/things/a1');
      expect(refused.status).toBe(429);
      expect(refused.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      expect(JSON.parse(refused.body)).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(refused.headers['ratelimit-remaining']).toBe('0');
    } finally {
      await app.close();
    }
  });

  it('keys the limit on the client a trusted proxy names', async () => {
    const { app, origin } = await buildApp({ points: 5, trustedProxies: ['127.0.0.1'] });
    try {
      const as = (client: string) => get(origin, '/api/v1/things/a1', { 'x-forwarded-for': client });
      expect((await as('203.0.113.1')).headers['ratelimit-remaining']).toBe('4');
      expect((await as('203.0.113.1')).headers['ratelimit-remaining']).toBe('3');
      expect((await as('203.0.113.2')).headers['ratelimit-remaining']).toBe('4');
      // The route keys the same way: the same client's count goes on.
      expect((await get(origin, '/api/v1/things/a1?via=fastify', { 'x-forwarded-for': '203.0.113.2' })).headers['ratelimit-remaining']).toBe('3');
    } finally {
      await app.close();
    }
  });

  it('writes the request log line the route writes', async () => {
    const logLines: string[] = [];
    const { app, origin } = await buildApp({ logLines });
    try {
      const fast = await get(origin, '/api/v1/things/a1', { 'x-request-id': 'fast-1' });
      await get(origin, '/api/v1/things/a1?x=1', { 'x-request-id': 'routed-1' });
      expect(fast.status).toBe(200);
      const lines = logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'request');
      const pick = ({ reqId, method, route, url, status, level }: Record<string, unknown>) => ({ reqId, method, route, url, status, level });
      expect(lines.map(pick)).toEqual([
        { reqId: 'fast-1', method: 'GET', route: '/api/v1/things/:id', url: '/api/v1/things/a1', status: 200, level: 30 },
        { reqId: 'routed-1', method: 'GET', route: '/api/v1/things/:id', url: '/api/v1/things/a1', status: 200, level: 30 },
      ]);
      expect(lines.every((line) => typeof line.ms === 'number')).toBe(true);
    } finally {
      await app.close();
    }
  });
});
