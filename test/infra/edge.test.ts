import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge, stopEdge, type StartedEdge } from '../../src/app/infra/edge.ts';
import { freePort } from '../support/process.ts';

/** A small upstream that says who it is, records what reached it, and serves a few caching policies. */
interface Upstream {
  name: string;
  url: string;
  seen: { path: string; headers: IncomingHttpHeaders }[];
  stop(): Promise<void>;
}

async function startUpstream(name: string): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    const path = (req.url ?? '').split('?')[0];
    const body = JSON.stringify({ from: name, path });
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-upstream', name);
    if (path === '/public' || path === '/auth-first') {
      res.setHeader('cache-control', 'public, max-age=60');
      res.setHeader('etag', '"p1"');
    } else if (path === '/private') {
      res.setHeader('cache-control', 'private, max-age=60');
    } else if (path === '/no-store') {
      res.setHeader('cache-control', 'no-store');
    } else if (path === '/swr') {
      res.setHeader('cache-control', 'public, max-age=1, stale-while-revalidate=30');
      res.setHeader('etag', '"s1"');
      if (req.headers['if-none-match'] === '"s1"') {
        res.statusCode = 304;
        return res.end();
      }
    } else {
      res.setHeader('cache-control', 'no-store');
    }
    res.end(body);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    seen,
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function get(base: string, path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, upstream: response.headers.get('x-upstream') };
}

const countPath = (upstreams: Upstream[], path: string) => upstreams.reduce((n, u) => n + u.seen.filter((s) => s.path === path).length, 0);

describe('edge: Debian nginx in front of two upstreams', () => {
  let dir: string;
  let upstreams: Upstream[] = [];
  const edges: StartedEdge[] = [];
  let plain = '';
  let cached = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scalemart-edge-'));
    upstreams = [await startUpstream('a'), await startUpstream('b')];
    const urls = upstreams.map((u) => u.url);
    const [plainPort, cachedPort] = [await freePort(), await freePort()];
    // Started by our code, daemonized, pid read back from its pid file; stopped by that pid below.
    edges.push(await startEdge({ dir: join(dir, 'plain'), port: plainPort, upstreams: urls }));
    edges.push(await startEdge({ dir: join(dir, 'cached'), port: cachedPort, upstreams: urls, cache: true }));
    plain = `http://127.0.0.1:${plainPort}`;
    cached = `http://127.0.0.1:${cachedPort}`;
  }, 60_000);

  afterAll(async () => {
    // By the pid each nginx wrote to its own pid file, never by name.
    for (const edge of edges) expect(await stopEdge(edge)).toBe(true);
    for (const upstream of upstreams) await upstream.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('spreads requests over both upstreams, passing the client address and a request id', async () => {
    const from = { a: 0, b: 0 } as Record<string, number>;
    for (let i = 0; i < 40; i++) {
      const r = await get(plain, `/spread?i=${i}`);
      expect(r.status).toBe(200);
      from[r.upstream!]! += 1;
    }
    // Round-robin with one worker alternates; allow some slack for nginx's choices after a reload.
    expect(from.a).toBeGreaterThanOrEqual(15);
    expect(from.b).toBeGreaterThanOrEqual(15);

    await get(plain, '/echo', { 'x-request-id': 'client-chosen-id', 'x-forwarded-for': '6.6.6.6' });
    await get(plain, '/echo2');
    const echo = upstreams.flatMap((u) => u.seen).find((s) => s.path === '/echo')!;
    expect(echo.headers['x-request-id']).toBe('client-chosen-id');
    // A forged X-Forwarded-For is replaced by the address the edge saw.
    expect(echo.headers['x-forwarded-for']).toBe('127.0.0.1');
    const generated = upstreams.flatMap((u) => u.seen).find((s) => s.path === '/echo2')!;
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    // Upstream keep-alive: HTTP/1.1 without "Connection: close".
    expect(echo.headers.connection).toBeUndefined();
  });

  it('caches nothing when the cache is off', async () => {
    const first = await get(plain, '/public');
    const second = await get(plain, '/public');
    expect(first.headers.get('x-cache-status')).toBeNull();
    expect(second.headers.get('x-cache-status')).toBeNull();
  });

  it('serves a second GET of a public response from the cache without reaching an upstream', async () => {
    const before = countPath(upstreams, '/public');
    const first = await get(cached, '/public');
    const second = await get(cached, '/public');
    expect(first.headers.get('x-cache-status')).toBe('MISS');
    expect(second.headers.get('x-cache-status')).toBe('HIT');
    expect(second.text).toBe(first.text);
    expect(second.headers.get('etag')).toBe('"p1"');
    expect(countPath(upstreams, '/public') - before).toBe(1);
    // A client's current ETag gets a 304 from the edge itself.
    const revalidated = await fetch(`${cached}/public`, { headers: { 'if-none-match': '"p1"' } });
    expect(revalidated.status).toBe(304);
    expect(countPath(upstreams, '/public') - before).toBe(1);
  });

  it('never caches a request with Authorization (nor serves it the shared copy), nor a private or no-store answer', async () => {
    const withAuth = () => get(cached, '/auth-first', { authorization: 'Bearer someone' });
    expect((await withAuth()).headers.get('x-cache-status')).toBe('BYPASS');
    expect((await withAuth()).headers.get('x-cache-status')).toBe('BYPASS');
    expect(countPath(upstreams, '/auth-first')).toBe(2);
    // The credentialed answers filled nothing: the first anonymous GET still misses.
    expect((await get(cached, '/auth-first')).headers.get('x-cache-status')).toBe('MISS');
    // And a cached public copy is not served to a credentialed request either.
    expect((await withAuth()).headers.get('x-cache-status')).toBe('BYPASS');
    expect(countPath(upstreams, '/auth-first')).toBe(4);
    expect((await get(cached, '/public', { cookie: 'session=1' })).headers.get('x-cache-status')).toBe('BYPASS');

    for (const path of ['/private', '/no-store']) {
      await get(cached, path);
      await get(cached, path);
      expect(countPath(upstreams, path)).toBe(2);
    }
  });

  it('serves stale while revalidating in the background with the ETag', async () => {
    expect((await get(cached, '/swr')).headers.get('x-cache-status')).toBe('MISS');
    // max-age=1, and nginx keeps times in whole seconds: the entry turns stale within about 2 s.
    let stale = await get(cached, '/swr');
    for (const until = Date.now() + 4_000; stale.headers.get('x-cache-status') === 'HIT' && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 200));
      stale = await get(cached, '/swr');
    }
    expect(['STALE', 'UPDATING']).toContain(stale.headers.get('x-cache-status'));
    expect(JSON.parse(stale.text)).toMatchObject({ path: '/swr' });
    // The background refresh asked with the stored ETag and got a 304: the entry is fresh again.
    const deadline = Date.now() + 5_000;
    while (!upstreams.some((u) => u.seen.some((s) => s.path === '/swr' && s.headers['if-none-match'] === '"s1"'))) {
      if (Date.now() > deadline) throw new Error('no conditional revalidation reached an upstream');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 100));
    expect((await get(cached, '/swr')).headers.get('x-cache-status')).toBe('HIT');
  });

  it('fails over to the other upstream when one stops', async () => {
    await upstreams[1]!.stop();
    const statuses: number[] = [];
    const from = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await get(plain, `/after-stop?i=${i}`);
      statuses.push(r.status);
      from.add(r.upstream ?? '');
    }
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect([...from]).toEqual(['a']);
  });
});
