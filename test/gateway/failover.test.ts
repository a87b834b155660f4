import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startScalemartProcess, type Running } from '../support/process.ts';
import { INTERNAL_SECRET, JWT_SECRET, metric, sleep, startGatewayProcess, type RunningGateway } from './support.ts';

/**
 * Three real Scalemart processes behind a real gateway; one is SIGKILLed while a client sends
 * 200 GETs a second, then started again on its port.
 */
describe('the gateway when an instance dies under load', () => {
  const upstreams: Array<{ port: number; env: Record<string, string>; running: Running }> = [];
  let dataDir: string;
  let gateway: RunningGateway;
  let client: Pool;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'scalemart-gw-failover-'));
    const ports = [await freePort(), await freePort(), await freePort()];
    await Promise.all(ports.map(async (port, i) => {
      const env = {
        DATABASE_URL: 'memory://', SCALEMART_DATA_DIR: path.join(dataDir, String(i)), SEED_DEMO_PRODUCTS: '20',
        JWT_SECRET, INTERNAL_SECRET, RATE_LIMIT_POINTS: '100000000', LOG_LEVEL: 'warn',
      };
      upstreams[i] = { port, env, running: await startScalemartProcess(env, port) };
    }));
    gateway = await startGatewayProcess(['--upstream', ports.map((p) => `http://127.0.0.1:${p}`).join(',')], await freePort(), {
      GATEWAY_HEALTH_INTERVAL_MS: '500', GATEWAY_SLOW_START_MS: '2000', RATE_LIMIT_POINTS: '100000000',
    });
    client = new Pool(gateway.origin, { connections: 64 });
  }, 180_000);
  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
    for (const u of upstreams) {
      if (u?.running.child.exitCode === null) u.running.child.kill('SIGKILL');
      await u?.running.exited;
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  const scrape = async () => (await client.request({ path: '/metrics', method: 'GET' }).then((r) => r.body.text()));
  const series = (port: number) => `pool="default",instance="127.0.0.1:${port}"`;

  it('fails at most 0.1 % of 200 req/s, ejects the instance within 1 s and readmits it once it is back', async () => {
    const results: Array<{ at: number; status: number; error?: string }> = [];
    let sending = true;
    const started = performance.now();
    // Open loop: 2 GETs every 10 ms, whatever the answers do.
    const inFlight = new Set<Promise<void>>();
    const load = (async () => {
      for (let tick = 0; sending; tick++) {
        for (let k = 0; k < 2; k++) {
          const p = client.request({ path: '/api/v1/products?limit=5', method: 'GET' }).then(
            async (r) => { await r.body.dump(); results.push({ at: performance.now() - started, status: r.statusCode }); },
            (e: Error) => { results.push({ at: performance.now() - started, status: 0, error: e.message }); },
          ).finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        const next = started + (tick + 1) * 10;
        await sleep(Math.max(0, next - performance.now()));
      }
    })();

    await sleep(2_000);
    const victim = upstreams[1]!;
    victim.running.child.kill('SIGKILL');
    const killedAt = performance.now();
    let ejectedMs = Infinity;
    while (performance.now() - killedAt < 5_000) {
      if (metric(await scrape(), 'scalemart_gateway_upstream_healthy', series(victim.port)) === 0) {
        ejectedMs = performance.now() - killedAt;
        break;
      }
      await sleep(20);
    }
    await victim.running.exited;
    await sleep(1_000);

    victim.running = await startScalemartProcess(victim.env, victim.port);
    const listeningAt = performance.now();
    let readmittedMs = Infinity;
    while (performance.now() - listeningAt < 15_000) {
      if (metric(await scrape(), 'scalemart_gateway_upstream_healthy', series(victim.port)) === 1) {
        readmittedMs = performance.now() - listeningAt;
        break;
      }
      await sleep(50);
    }
    const servedBefore = metric(await scrape(), 'scalemart_gateway_upstream_requests_total', series(victim.port)) ?? 0;
    await sleep(3_000);
    const servedAfter = metric(await scrape(), 'scalemart_gateway_upstream_requests_total', series(victim.port)) ?? 0;
    sending = false;
    await load;
    await Promise.all(inFlight);

    const seconds = (performance.now() - started) / 1000;
    const failures = results.filter((r) => r.status !== 200);
    const text = await scrape();
    const summary = {
      requests: results.length, ratePerSecond: Math.round(results.length / seconds), failures: failures.length,
      ejectedMs: Math.round(ejectedMs), readmittedMsAfterListening: Math.round(readmittedMs), servedAfterReadmission: servedAfter - servedBefore,
      retries: metric(text, 'scalemart_gateway_retries_total', 'pool="default"'),
      victimErrors: ['connect', 'reset', 'timeout', 'status'].map((k) => `${k}=${metric(text, 'scalemart_gateway_upstream_errors_total', `${series(victim.port)},kind="${k}"`) ?? 0}`).join(' '),
    };
    console.log('gateway failover:', JSON.stringify(summary), failures.slice(0, 5));
    expect(results.length).toBeGreaterThan(1_500);
    expect(failures.length).toBeLessThanOrEqual(Math.floor(results.length * 0.001));
    expect(ejectedMs).toBeLessThanOrEqual(1_000);
    expect(readmittedMs).toBeLessThan(10_000);
    expect(servedAfter - servedBefore).toBeGreaterThan(50);
  }, 120_000);

  it('fails no GET while every instance is restarted in turn (SIGTERM, start, readmission)', async () => {
    const results: number[] = [];
    let sending = true;
    const inFlight = new Set<Promise<void>>();
    const started = performance.now();
    const load = (async () => {
      for (let tick = 0; sending; tick++) {
        const p = client.request({ path: '/api/v1/products?limit=5', method: 'GET' }).then(
          async (r) => { await r.body.dump(); results.push(r.statusCode); },
          () => { results.push(0); },
        ).finally(() => inFlight.delete(p));
        inFlight.add(p);
        await sleep(Math.max(0, started + (tick + 1) * 10 - performance.now()));
      }
    })();
    for (const u of upstreams) {
      u.running.child.kill('SIGTERM');
      await u.running.exited;
      u.running = await startScalemartProcess(u.env, u.port);
      const deadline = Date.now() + 15_000;
      while (metric(await scrape(), 'scalemart_gateway_upstream_healthy', series(u.port)) !== 1) {
        if (Date.now() > deadline) throw new Error(`instance ${u.port} not readmitted`);
        await sleep(50);
      }
    }
    sending = false;
    await load;
    await Promise.all(inFlight);
    const failures = results.filter((s) => s !== 200);
    console.log('gateway rolling restart:', { requests: results.length, failures: failures.length, statuses: [...new Set(failures)] });
    expect(results.length).toBeGreaterThan(500);
    expect(failures).toEqual([]);
  }, 180_000);
});
