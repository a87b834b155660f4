import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRAINING_HEADER } from '../../src/platform/http/draining.ts';
import { freePort } from '../support/process.ts';
import { metric, sleep, startGatewayProcess, type RunningGateway } from './support.ts';

interface Fake {
  port: number;
  ready: boolean;
  status: number;
  /** Answers say the process is draining (DRAINING_HEADER), as a Scalemart process does after SIGTERM. */
  draining: boolean;
  served: number;
  server: http.Server;
}

async function fake(): Promise<Fake> {
  const state = { ready: true, status: 200, draining: false, served: 0 } as Fake;
  state.server = http.createServer((request, response) => {
    if (request.url === '/readyz') return void response.writeHead(state.ready ? 200 : 503).end();
    state.served++;
    response.writeHead(state.status, { 'content-type': 'application/json', ...(state.draining ? { [DRAINING_HEADER]: '1' } : {}) }).end('{}');
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.port = (state.server.address() as AddressInfo).port;
  return state;
}

const until = async (check: () => Promise<boolean>, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('not in time');
    await sleep(50);
  }
};

/** Active checks and passive ejection, seen through a real gateway process. */
describe('gateway health', () => {
  let a: Fake;
  let b: Fake;
  let gateway: RunningGateway;
  const scrape = async () => (await fetch(`${gateway.origin}/metrics`)).text();
  const healthy = async (f: Fake) => metric(await scrape(), 'scalemart_gateway_upstream_healthy', `pool="default",instance="127.0.0.1:${f.port}"`);

  beforeAll(async () => {
    a = await fake();
    b = await fake();
    gateway = await startGatewayProcess(['--upstream', `http://127.0.0.1:${a.port},http://127.0.0.1:${b.port}`, '--balancer', 'round-robin'], await freePort(), {
      GATEWAY_HEALTH_INTERVAL_MS: '100', GATEWAY_SLOW_START_MS: '0', RATE_LIMIT_POINTS: '100000', GATEWAY_RETRIES: '0',
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    for (const f of [a, b]) if (f) await new Promise((resolve) => f.server.close(resolve));
  });

  it('takes an instance whose /readyz fails out of rotation, and answers 503 NO_HEALTHY_UPSTREAM when none is left', async () => {
    b.ready = false;
    await until(async () => (await healthy(b)) === 0);
    const before = b.served;
    for (let i = 0; i < 10; i++) expect((await fetch(`${gateway.origin}/api/v1/x`)).status).toBe(200);
    expect(b.served).toBe(before);
    a.ready = false;
    await until(async () => (await healthy(a)) === 0);
    const none = await fetch(`${gateway.origin}/api/v1/x`);
    expect(none.status).toBe(503);
    expect(await none.json()).toMatchObject({ code: 'NO_HEALTHY_UPSTREAM' });
    expect((await fetch(`${gateway.origin}/readyz`)).status).toBe(200); // the gateway itself is ready
    a.ready = true;
    b.ready = true;
    await until(async () => (await healthy(a)) === 1 && (await healthy(b)) === 1);
  });

  it('ejects an instance after 5 consecutive 5xx, though its checks pass', async () => {
    b.status = 500;
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await fetch(`${gateway.origin}/api/v1/x`)).status);
    // Round-robin: b answers every other request until its fifth 500 ejects it.
    expect(statuses.filter((s) => s === 500)).toHaveLength(5);
    const text = await scrape();
    expect(metric(text, 'scalemart_gateway_upstream_ejections_total', `pool="default",instance="127.0.0.1:${b.port}"`)).toBe(1);
    expect(metric(text, 'scalemart_gateway_upstream_ejected', `pool="default",instance="127.0.0.1:${b.port}"`)).toBe(1);
    await sleep(500); // its checks keep passing: it stays out (30 s)
    expect(await healthy(b)).toBe(0);
  });
});

/**
 * The gateway's default checks (every 2 s, down after 3 failures) need about 6 s to see an instance
 * go, longer than the scaled stage's 2 s drain: the draining header closes that gap.
 */
describe('gateway health: an instance that says it is draining', () => {
  let a: Fake;
  let b: Fake;
  let gateway: RunningGateway;
  const healthy = async (f: Fake) =>
    metric(await (await fetch(`${gateway.origin}/metrics`)).text(), 'scalemart_gateway_upstream_healthy', `pool="default",instance="127.0.0.1:${f.port}"`);

  beforeAll(async () => {
    a = await fake();
    b = await fake();
    gateway = await startGatewayProcess(['--upstream', `http://127.0.0.1:${a.port},http://127.0.0.1:${b.port}`, '--balancer', 'round-robin'], await freePort(), {
      GATEWAY_SLOW_START_MS: '0', RATE_LIMIT_POINTS: '100000', GATEWAY_RETRIES: '0',
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    for (const f of [a, b]) if (f) await new Promise((resolve) => f.server.close(resolve));
  });

  it('is out of rotation after its first answer, with its checks still passing; the last instance left keeps serving', async () => {
    await until(async () => (await healthy(a)) === 1 && (await healthy(b)) === 1);
    b.draining = true;
    const before = { a: a.served, b: b.served };
    for (let i = 0; i < 10; i++) {
      const answer = await fetch(`${gateway.origin}/api/v1/x`);
      expect(answer.status).toBe(200);
      expect(answer.headers.get(DRAINING_HEADER)).toBeNull(); // internal: not passed on
    }
    // Round-robin: b answered once, said it was draining, and got nothing more.
    expect(b.served - before.b).toBe(1);
    expect(a.served - before.a).toBe(9);
    expect(await healthy(b)).toBe(0);

    // a drains too while b is out: a is all that is left, and it still serves until its drain ends.
    a.draining = true;
    for (let i = 0; i < 5; i++) expect((await fetch(`${gateway.origin}/api/v1/x`)).status).toBe(200);
    expect(a.served - before.a).toBe(14);

    // b came back (a restart): its checks bring it in after `rise` passes.
    b.draining = false;
    a.draining = false;
    await until(async () => (await healthy(b)) === 1, 15_000);
  }, 30_000);
});
