import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyForwardedPrincipal } from '../../src/platform/auth/forwarded-principal.ts';
import { createTokenService } from '../../src/platform/auth/tokens.ts';
import { freePort } from '../support/process.ts';
import { INTERNAL_SECRET, JWT_SECRET, json, metric, sleep, startGatewayProcess, startRawUpstream, type RawUpstream, type RunningGateway } from './support.ts';

/**
 * A real gateway process in front of two raw-socket upstreams that misbehave on purpose: resets,
 * invalid status lines, bodies that stop mid-way, answers that never come. Outlier ejection is
 * set out of reach here so every request sees both instances (ejection is tested on its own).
 */
/** Chunk i of the streamed answer: 64 KiB of one letter, so order and completeness can be checked. */
const BIG_CHUNK = (i: number) => String.fromCharCode(97 + (i % 26)).repeat(0x10000);

describe('the gateway in front of misbehaving upstreams', () => {
  let a: RawUpstream;
  let b: RawUpstream;
  let gateway: RunningGateway;
  const all = () => [...a.requests, ...b.requests].sort((x, y) => x.seq - y.seq);
  const to = (path: string) => all().filter((r) => r.path === path);

  function behave(request: { method: string; path: string; headers: Record<string, string> }, socket: Socket): void {
    switch (request.path.split('?')[0]) {
      case '/api/v1/echo':
        if (request.method === 'HEAD') return void socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 42\r\n\r\n');
        return json(socket, 200, { headers: request.headers });
      case '/api/v1/reset':
        return void socket.destroy();
      case '/api/v1/bad-status':
        socket.write('HTTP/1.1 TWO-HUNDRED OK\r\n\r\n');
        return void socket.end();
      case '/api/v1/truncated':
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"items":[1,2,');
        return void setTimeout(() => socket.destroy(), 50);
      case '/api/v1/truncated-chunked':
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"a":\r\n');
        return void setTimeout(() => socket.destroy(), 50);
      case '/api/v1/garbage':
        socket.write('\x00\x01\x02 not http at all\r\n\r\n');
        return void socket.end();
      case '/api/v1/hang':
        return; // never answers
      case '/api/v1/big-chunked': {
        // 4 MiB in 64 KiB chunks, unsized: the gateway streams it rather than reading it whole.
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n');
        for (let i = 0; i < 64; i++) socket.write(`10000\r\n${BIG_CHUNK(i)}\r\n`);
        return void socket.write('0\r\n\r\n');
      }
      case '/api/v1/big-sized': {
        // Larger than the whole-read limit (1 MiB), so streamed though sized.
        const body = Buffer.alloc(2 * 1024 * 1024 + 7, 'x');
        return void socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`), body]));
      }
      default:
        return json(socket, 404, { code: 'NOT_FOUND' });
    }
  }

  beforeAll(async () => {
    a = await startRawUpstream(behave);
    b = await startRawUpstream(behave);
    gateway = await startGatewayProcess(['--upstream', `${a.url},${b.url}`, '--balancer', 'round-robin'], await freePort(), {
      GATEWAY_EJECT_CONSECUTIVE: '1000',
      GATEWAY_HEALTH_INTERVAL_MS: '200',
      GATEWAY_TRY_TIMEOUT_MS: '400',
      GATEWAY_TIMEOUT_MS: '1000',
      GATEWAY_DRAIN_GRACE_MS: '1500',
      RATE_LIMIT_POINTS: '100000',
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await a?.close();
    await b?.close();
  });

  it('drops a principal header forged by a client, and signs the one it verified', async () => {
    const forged = 'eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiIsInZpYSI6InRva2VuIiwiZXhwIjo5OTk5OTk5OTk5OTk5fQ.AAAA';
    const anonymous = await fetch(`${gateway.origin}/api/v1/echo`, { headers: { 'x-scalemart-principal': forged } });
    expect(anonymous.status).toBe(200);
    expect((await anonymous.json() as { headers: Record<string, string> }).headers['x-scalemart-principal']).toBeUndefined();

    const { token } = await createTokenService({ secret: JWT_SECRET, ttlSeconds: 60 }).issue('user-7', 'customer');
    for (let i = 0; i < 2; i++) { // the second is served from the verified-token cache
      const signed = await fetch(`${gateway.origin}/api/v1/echo`, { headers: { authorization: `Bearer ${token}`, 'x-scalemart-principal': forged } });
      const seen = (await signed.json() as { headers: Record<string, string> }).headers;
      expect(seen['x-scalemart-principal']).not.toBe(forged);
      expect(verifyForwardedPrincipal(seen['x-scalemart-principal'] ?? '', INTERNAL_SECRET)).toEqual({ subject: 'user-7', role: 'customer', via: 'token' });
      expect(seen.authorization).toBe(`Bearer ${token}`);
    }

    const bad = await fetch(`${gateway.origin}/api/v1/echo`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ code: 'INVALID_TOKEN' });
    const other = await createTokenService({ secret: 'x'.repeat(40), ttlSeconds: 60 }).issue('user-7', 'admin');
    expect((await fetch(`${gateway.origin}/api/v1/echo`, { headers: { authorization: `Bearer ${other.token}` } })).status).toBe(401);
  });

  it('echoes the request id, passes bodies on, and refuses an oversized body with 413', async () => {
    const echoed = await fetch(`${gateway.origin}/api/v1/echo`, { method: 'PUT', headers: { 'x-request-id': 'req-42', 'content-type': 'application/json' }, body: '{"x":1}' });
    expect(echoed.headers.get('x-request-id')).toBe('req-42');
    expect((await echoed.json() as { headers: Record<string, string> }).headers).toMatchObject({ 'x-request-id': 'req-42', 'content-length': '7' });
    const before = all().length;
    const large = await fetch(`${gateway.origin}/api/v1/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ blob: 'x'.repeat(70_000) }) });
    expect(large.status).toBe(413);
    expect(await large.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(all().length).toBe(before);
  });

  it('forwards an API key unchanged for the upstream to resolve', async () => {
    const seen = (await (await fetch(`${gateway.origin}/api/v1/echo`, { headers: { "x-api-key": "sm_key" } })).json() as { headers: Record<string, string> }).headers;
    expect(seen['x-api-key']).toBe('sm_key');
    expect(seen['x-scalemart-principal']).toBeUndefined();
  });

  it('never routes /internal/… (nor a path that climbs out of /api/v1)', async () => {
    const before = all().length;
    for (const path of ['/internal/v1/orders/x', '/api/v1/%2e%2e/internal/v1/x', '/api/v1/%2E%2E%2Finternal', '/api/v2/products']) {
      const response = await fetch(`${gateway.origin}${path}`);
      expect(response.status, path).toBe(404);
      expect(await response.json()).toMatchObject({ code: 'NOT_FOUND' });
    }
    expect(all().length).toBe(before);
  });

  it('answers 502 UPSTREAM_FAILED on resets, invalid status lines and garbage, retrying GETs on the other instance', async () => {
    for (const path of ['/api/v1/reset', '/api/v1/bad-status', '/api/v1/garbage']) {
      const before = to(path).length;
      const response = await fetch(`${gateway.origin}${path}`);
      expect(response.status, path).toBe(502);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await response.json()).toMatchObject({ status: 502, code: 'UPSTREAM_FAILED' });
      expect(to(path).length - before, path).toBe(3); // the try and two retries, alternating instances
    }
  });

  it('never re-sends a POST without Idempotency-Key, and retries one that carries it', async () => {
    const before = to('/api/v1/reset').length;
    const post = await fetch(`${gateway.origin}/api/v1/reset`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(post.status).toBe(502);
    expect(to('/api/v1/reset').length - before).toBe(1);

    const keyed = await fetch(`${gateway.origin}/api/v1/reset`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1' }, body: '{"a":1}' });
    expect(keyed.status).toBe(502);
    const sent = to('/api/v1/reset').slice(before + 1);
    expect(sent).toHaveLength(3);
    expect(sent.map((r) => [r.method, r.body])).toEqual(Array(3).fill(['POST', '{"a":1}']));
  });

  it('answers 502 when a sized body stops mid-way (retried first), and cuts off a streamed one; keeps serving', async () => {
    const before = to('/api/v1/truncated').length;
    const sized = await fetch(`${gateway.origin}/api/v1/truncated`);
    expect(sized.status).toBe(502);
    expect(await sized.json()).toMatchObject({ code: 'UPSTREAM_FAILED' });
    expect(to('/api/v1/truncated').length - before).toBe(3);
    // Unsized (chunked) answers stream: once the headers left, the client sees the cut.
    const error = await fetch(`${gateway.origin}/api/v1/truncated-chunked`).then((r) => r.text()).then(() => undefined, (e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((await fetch(`${gateway.origin}/api/v1/echo`)).status).toBe(200);
  });

  it('streams large and unsized answers whole and in order to a slow reader, and answers HEAD without a body', async () => {
    const response = await fetch(`${gateway.origin}/api/v1/big-chunked`);
    expect(response.status).toBe(200);
    // Read slowly, so the gateway must hold the upstream back (backpressure) rather than buffer or drop.
    const reader = response.body!.getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      if (parts.length % 16 === 0) await sleep(20);
    }
    const body = Buffer.concat(parts).toString('latin1');
    expect(body.length).toBe(64 * 0x10000);
    expect(body === Array.from({ length: 64 }, (_, i) => BIG_CHUNK(i)).join('')).toBe(true);

    const sized = await fetch(`${gateway.origin}/api/v1/big-sized`);
    expect(sized.headers.get('content-length')).toBe(String(2 * 1024 * 1024 + 7));
    expect((await sized.arrayBuffer()).byteLength).toBe(2 * 1024 * 1024 + 7);

    const head = await fetch(`${gateway.origin}/api/v1/echo`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('42');
    expect(await head.text()).toBe('');
    expect((await fetch(`${gateway.origin}/api/v1/echo`)).status).toBe(200);
  });

  it('answers 504 UPSTREAM_TIMEOUT within the overall deadline when no answer comes', async () => {
    const started = Date.now();
    const response = await fetch(`${gateway.origin}/api/v1/hang`);
    const elapsed = Date.now() - started;
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ code: 'UPSTREAM_TIMEOUT' });
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(3_000);
  });

  it('aborts the upstream request when the client goes away', async () => {
    const controller = new AbortController();
    const request = fetch(`${gateway.origin}/api/v1/hang?client-leaves`, { signal: controller.signal }).catch(() => undefined);
    await sleep(150);
    controller.abort();
    await request;
    const deadline = Date.now() + 2_000;
    while (![...a.abandoned, ...b.abandoned].some((p) => p.endsWith('client-leaves')) && Date.now() < deadline) await sleep(20);
    expect([...a.abandoned, ...b.abandoned].filter((p) => p.endsWith('client-leaves'))).toEqual(['/api/v1/hang?client-leaves']);
    // One try only: the gateway did not retry a request nobody waits for.
    expect(to('/api/v1/hang?client-leaves')).toHaveLength(1);
  });

  it('is still alive, and counts what happened per instance', async () => {
    expect((await fetch(`${gateway.origin}/livez`)).status).toBe(200);
    const text = await (await fetch(`${gateway.origin}/metrics`)).text();
    const resets = (metric(text, 'scalemart_gateway_upstream_errors_total', `pool="default",instance="127.0.0.1:${a.port}",kind="reset"`) ?? 0)
      + (metric(text, 'scalemart_gateway_upstream_errors_total', `pool="default",instance="127.0.0.1:${b.port}",kind="reset"`) ?? 0);
    expect(resets).toBeGreaterThanOrEqual(16);
    expect(metric(text, 'scalemart_gateway_retries_total', 'pool="default"')).toBeGreaterThanOrEqual(8);
    expect(metric(text, 'scalemart_gateway_upstream_healthy', `pool="default",instance="127.0.0.1:${a.port}"`)).toBe(1);
  });

  it('on SIGTERM fails /readyz first, keeps serving through the grace, then exits 0', async () => {
    expect((await fetch(`${gateway.origin}/readyz`)).status).toBe(200);
    gateway.child.kill('SIGTERM');
    await sleep(200);
    expect((await fetch(`${gateway.origin}/readyz`)).status).toBe(503);
    expect((await fetch(`${gateway.origin}/api/v1/echo`)).status).toBe(200);
    expect(await gateway.exited).toBe(0);
  });
});
