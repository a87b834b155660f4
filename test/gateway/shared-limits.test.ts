import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/process.ts';
import { startGatewayProcess, type RunningGateway } from './support.ts';

/** In this suite's range (25000–25199), clear of other suites' Redis. */
const REDIS_PORT = 25_150;

function startRedis(port: number): Promise<{ child: ChildProcessWithoutNullStreams; exited: Promise<unknown> }> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'pipe' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      if (out.includes('Ready to accept connections')) return;
      out += String(chunk);
      if (out.includes('Ready to accept connections')) resolve({ child, exited });
    });
    child.stderr.on('data', () => {});
    child.once('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
  });
}

/**
 * Two gateway processes share one limit of 100 a minute per client through Redis. With Redis
 * killed, each keeps limiting on its own (its insurance limiter) and answers no 5xx.
 */
describe('rate limits shared by every gateway', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let upstream: http.Server;
  const gateways: RunningGateway[] = [];
  const clients: Pool[] = [];

  beforeAll(async () => {
    redis = await startRedis(REDIS_PORT);
    upstream = http.createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    for (let i = 0; i < 2; i++) {
      const gateway = await startGatewayProcess(['--upstream', url], await freePort(), {
        REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`, RATE_LIMIT_POINTS: '100', RATE_LIMIT_WINDOW_SECONDS: '60',
      });
      gateways.push(gateway);
      clients.push(new Pool(gateway.origin, { connections: 8 }));
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(gateways.map((g) => g.stop()));
    if (redis && redis.child.exitCode === null && redis.child.signalCode === null) redis.child.kill('SIGKILL');
    await redis?.exited;
    await new Promise((resolve) => upstream?.close(resolve));
  });

  /** `n` GETs from one client (an API key: the gateway counts it by its hash), alternating gateways, 8 at a time. */
  async function burst(n: number, client: string, only?: number) {
    const statuses: number[] = [];
    let refusal: { headers: Record<string, unknown>; body: unknown } | undefined;
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        const g = only ?? i % 2;
        const response = await clients[g]!.request({ path: '/api/v1/products', method: 'GET', headers: { 'x-api-key': client } });
        statuses.push(response.statusCode);
        if (response.statusCode === 429 && !refusal) refusal = { headers: response.headers, body: await response.body.json() };
        else await response.body.dump();
      }
    }));
    const count = (s: number) => statuses.filter((x) => x === s).length;
    return { accepted: count(200), refused: count(429), other: statuses.filter((s) => s !== 200 && s !== 429), refusal };
  }

  it('accepts at most 100 in the window for one client spread over two gateways', async () => {
    const { accepted, refused, other, refusal } = await burst(300, 'client-1');
    console.log('shared limit over two gateways:', { accepted, refused, other: other.length });
    // Redis counts atomically and a gateway's lease never takes past the limit, so the limit is
    // exact; the tolerance covers a Redis command that misses its 100 ms timeout under load and is
    // decided by that gateway's insurance limiter instead.
    expect(accepted).toBeLessThanOrEqual(105);
    expect(accepted).toBeGreaterThanOrEqual(95);
    expect(other).toEqual([]);
    expect(refusal?.headers).toMatchObject({ 'ratelimit-limit': '100', 'ratelimit-remaining': '0' });
    expect(Number(refusal?.headers['retry-after'])).toBeGreaterThan(0);
    expect(refusal?.body).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
  });

  it('keeps limiting per gateway with Redis killed, and answers no 5xx', async () => {
    redis.child.kill('SIGKILL');
    await redis.exited;
    // The client that used its limit stays refused for the window: the gateways remember it.
    expect((await burst(10, 'client-1')).accepted).toBe(0);
    // A client that has its limit left: each gateway now counts it on its own (insurance limiter).
    const results = [await burst(150, 'client-2', 0), await burst(150, 'client-2', 1)];
    console.log('with Redis killed:', results.map(({ accepted, refused, other }) => ({ accepted, refused, other: other.length })));
    for (const { accepted, refused, other } of results) {
      expect(other).toEqual([]);
      expect(accepted).toBeLessThanOrEqual(100);
      expect(accepted).toBeGreaterThanOrEqual(50);
      expect(refused).toBeGreaterThanOrEqual(50);
    }
  });
});

describe('client addresses behind a balancer', () => {
  it('counts clients by the X-Forwarded-For of a trusted proxy only', async () => {
    const upstream = http.createServer((_request, response) => response.writeHead(200).end('{}'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const env = { RATE_LIMIT_POINTS: '2', RATE_LIMIT_WINDOW_SECONDS: '60' };
    const trusting = await startGatewayProcess(['--upstream', url], await freePort(), { ...env, GATEWAY_TRUSTED_PROXIES: '127.0.0.1' });
    const plain = await startGatewayProcess(['--upstream', url], await freePort(), env);
    try {
      const statuses = async (origin: string, client: string) => {
        const out: number[] = [];
        for (let i = 0; i < 3; i++) out.push((await fetch(`${origin}/api/v1/x`, { headers: { 'x-forwarded-for': client } })).status);
        return out;
      };
      // Behind a trusted edge, each client has its own limit.
      expect(await statuses(trusting.origin, '10.0.0.1')).toEqual([200, 200, 429]);
      expect(await statuses(trusting.origin, '10.0.0.2')).toEqual([200, 200, 429]);
      // Otherwise a client cannot buy a fresh limit by inventing a header: the peer address counts.
      expect(await statuses(plain.origin, '10.0.0.1')).toEqual([200, 200, 429]);
      expect(await statuses(plain.origin, '10.0.0.2')).toEqual([429, 429, 429]);
    } finally {
      await trusting.stop();
      await plain.stop();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });
});
