import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createBalancer } from './balancers/index.ts';
import { DEFAULT_FORWARD, type ForwardTarget } from './forward.ts';
import { createGatewayMetrics } from './gateway-metrics.ts';
import { createRetryBudget } from './retry-budget.ts';
import { getThroughPool } from './upstream-call.ts';
import { createUpstreamInstance } from './upstream-instance.ts';
import { createUpstreamPool, type UpstreamPool } from './upstream-pool.ts';

const servers: http.Server[] = [];
const pools: UpstreamPool[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => (s.closeAllConnections(), s.close(resolve)))));
});

/** A loopback server answering every request with `status` and `{ from: name }`, or never when status is 0. */
async function server(name: string, status: number): Promise<string> {
  const s = http.createServer((_request, response) => {
    if (status === 0) return;
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ from: name }));
  });
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/** A port nothing listens on (bound, read, released). */
async function closedPort(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return `http://127.0.0.1:${port}`;
}

function targetOf(urls: string[]): ForwardTarget & { retried: number } {
  const metrics = createGatewayMetrics(new Registry());
  const instances = urls.map((url) =>
    createUpstreamInstance({ url, weight: 1, pool: 'p', connection: { connections: 4, keepAliveMs: 1_000, connectTimeoutMs: 500 }, series: metrics.instance('p', url) }),
  );
  const pool = createUpstreamPool({ name: 'p', instances, balancer: createBalancer('round-robin', () => 0), policy: { slowStartMs: 0 } });
  pools.push(pool);
  const target = { pool, budget: createRetryBudget(), hashKey: undefined, retried: 0, retries: { inc: () => target.retried++ } };
  return target;
}

describe('a GET the gateway makes through a pool', () => {
  it('retries a refused connection on another instance and marks the refused one down', async () => {
    const target = targetOf([await closedPort(), await server('b', 200)]);
    const answer = await getThroughPool(target, { path: '/x', headers: {}, signal: new AbortController().signal }, DEFAULT_FORWARD);
    expect(answer.status).toBe(200);
    expect(JSON.parse(Buffer.from(answer.body).toString())).toEqual({ from: 'b' });
    expect(target.retried).toBe(1);
    expect(target.pool.instances[0]!.up).toBe(false);
    expect(target.pool.instances.every((i) => i.inFlight === 0)).toBe(true);
  });

  it('retries a 503 elsewhere, and hands back an upstream 5xx when no try is left', async () => {
    const target = targetOf([await server('a', 503), await server('b', 200)]);
    expect((await getThroughPool(target, { path: '/x', headers: {}, signal: new AbortController().signal }, DEFAULT_FORWARD)).status).toBe(200);
    const failing = targetOf([await server('c', 500)]);
    expect((await getThroughPool(failing, { path: '/x', headers: {}, signal: new AbortController().signal }, DEFAULT_FORWARD)).status).toBe(500);
  });

  it('throws NO_HEALTHY_UPSTREAM when nothing answers, and the signal reason when the caller gives up', async () => {
    const down = targetOf([await closedPort()]);
    await expect(getThroughPool(down, { path: '/x', headers: {}, signal: new AbortController().signal }, DEFAULT_FORWARD)).rejects.toMatchObject({ code: 'UPSTREAM_FAILED' });
    await expect(getThroughPool(down, { path: '/x', headers: {}, signal: new AbortController().signal }, DEFAULT_FORWARD)).rejects.toMatchObject({ code: 'NO_HEALTHY_UPSTREAM' });

    const hanging = targetOf([await server('h', 0)]);
    const controller = new AbortController();
    const reason = new Error('the part missed its deadline');
    setTimeout(() => controller.abort(reason), 50);
    const started = performance.now();
    await expect(getThroughPool(hanging, { path: '/x', headers: {}, signal: controller.signal }, DEFAULT_FORWARD)).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(1_000);
    // Giving up blames no instance.
    expect(hanging.pool.instances[0]!.consecutiveFailures).toBe(0);
    expect(hanging.pool.instances[0]!.inFlight).toBe(0);
  });
});
