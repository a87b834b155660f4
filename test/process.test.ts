import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { DRAINING_HEADER } from '../src/platform/http/draining.ts';
import { createScratchDatabase } from './support/postgres.ts';

const NODE = path.resolve('node_modules/.bin/node');

function run(args: string[], env: Record<string, string>) {
  return spawn(NODE, ['src/app/cli.ts', ...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
}

function exited(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Resolves with the base URL the process prints once it listens. */
function listening(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += String(chunk);
      const match = /API\s+(http:\/\/\S+)\/api\/v1\/products/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${out}`)));
  });
}

describe('the scalemart process', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'scalemart-process-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('stops on a bad configuration value with one line naming it', async () => {
    const child = run(['start'], { PORT: 'eighty', SCALEMART_DATA_DIR: dataDir });
    let err = '';
    child.stderr.on('data', (chunk) => (err += String(chunk)));
    expect(await exited(child)).toBe(2);
    expect(err.trim().split('\n')).toEqual([expect.stringMatching(/^Configuration error: PORT: /)]);
  });

  it('seeds a demo catalog on first start, serves it, and on SIGTERM finishes in-flight requests and exits 0', async () => {
    const child = run(['start', '--port', '0'], { SCALEMART_DATA_DIR: dataDir, SEED_DEMO_PRODUCTS: '50', LOG_LEVEL: 'warn' });
    const base = await listening(child);
    const page = await (await fetch(`${base}/api/v1/products?limit=100`)).json() as { items: unknown[] };
    expect(page.items).toHaveLength(50);

    // Open the connections first, so the requests below are on the wire when the signal lands.
    const pool = new Pool(base, { connections: 20, pipelining: 1 });
    await Promise.all(Array.from({ length: 20 }, () => pool.request({ path: '/livez', method: 'GET' }).then((r) => r.body.dump())));
    const inFlight = Array.from({ length: 20 }, () =>
      pool.request({ path: '/api/v1/products?limit=100', method: 'GET' }).then(async (r) => (await r.body.dump(), r.statusCode)),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    let said = '';
    child.stdout.on('data', (chunk) => (said += String(chunk)));
    child.stderr.on('data', (chunk) => (said += String(chunk)));
    child.kill('SIGTERM');
    // Every request gets a whole answer: served (200), or refused cleanly as the server closes (503); none is cut off.
    const statuses = await Promise.all(inFlight);
    expect(statuses.every((status) => status === 200 || status === 503)).toBe(true);
    expect(statuses).toContain(200);
    expect(await exited(child), said).toBe(0);
    await pool.close();
  });

  it('keeps its data and does not seed again on the next start', async () => {
    const child = run(['start', '--port', '0'], { SCALEMART_DATA_DIR: dataDir, SEED_DEMO_PRODUCTS: '50', LOG_LEVEL: 'warn' });
    const base = await listening(child);
    const first = await (await fetch(`${base}/api/v1/products?limit=100`)).json() as { items: unknown[] };
    expect(first.items).toHaveLength(50);
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });

  it('exits promptly on SIGTERM under a steady stream of keep-alive requests (no idle connection holds it open)', async () => {
    // On PostgreSQL with caching off, every request waits on the network: some are in flight when the signal lands.
    const database = await createScratchDatabase('scalemart_process');
    const child = run(['start', '--port', '0'], {
      SCALEMART_DATA_DIR: dataDir, LOG_LEVEL: 'warn', DATABASE_URL: database.url, CACHE_MODE: 'off', SEED_DEMO_PRODUCTS: '20', RATE_LIMIT_POINTS: '1000000',
    });
    const base = await listening(child).catch(async (error: unknown) => {
      await database.drop();
      throw error;
    });
    onTestFinished(() => database.drop());
    let said = '';
    child.stdout.on('data', (chunk) => (said += String(chunk)));
    child.stderr.on('data', (chunk) => (said += String(chunk)));
    // Requests are in flight on every connection when the signal lands; each connection is then
    // idle with keep-alive, which close() used to wait for (Fastify's keepAliveTimeout is 72 s).
    const pool = new Pool(base, { connections: 8, pipelining: 1 });
    let stop = false;
    const loops = Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          const r = await pool.request({ path: '/api/v1/products?limit=20', method: 'GET' });
          await r.body.dump();
          if (r.statusCode !== 200) break;
        } catch {
          break;
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const signalled = performance.now();
    child.kill('SIGTERM');
    const code = await exited(child);
    const tookMs = performance.now() - signalled;
    stop = true;
    await Promise.all(loops);
    await pool.destroy();
    expect(code, said).toBe(0);
    expect(tookMs).toBeLessThan(5_000);
  });

  const DRAIN_MS = 2_500;
  it('drains on SIGTERM: /readyz answers 503 at once, requests are still served with Connection: close and the draining header, then it exits 0', async () => {
    const child = run(['start', '--port', '0'], { SCALEMART_DATA_DIR: dataDir, LOG_LEVEL: 'warn', SHUTDOWN_DRAIN_MS: String(DRAIN_MS) });
    const base = await listening(child);
    let said = '';
    child.stdout.on('data', (chunk) => (said += String(chunk)));
    child.stderr.on('data', (chunk) => (said += String(chunk)));
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    // Cached now, so during the drain the fast path in front of Fastify can answer it (Node merges
    // the draining headers, set before, into its writeHead).
    expect((await fetch(`${base}/api/v1/products`)).status).toBe(200);
    const signalled = performance.now();
    child.kill('SIGTERM');
    let readyz: Response;
    do {
      readyz = await fetch(`${base}/readyz`);
    } while (readyz.status === 200 && performance.now() - signalled < 1_000);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toEqual({ status: 'draining' });
    const pool = new Pool(base, { connections: 1 });
    const during = await pool.request({ path: '/api/v1/products?limit=5', method: 'GET' });
    await during.body.dump();
    expect(during.statusCode).toBe(200);
    expect(during.headers.connection).toBe('close');
    // A gateway takes it out of rotation on this, before its health checks fail.
    expect(during.headers[DRAINING_HEADER]).toBe('1');
    const fast = await pool.request({ path: '/api/v1/products', method: 'GET' });
    await fast.body.dump();
    expect(fast.statusCode).toBe(200);
    expect(fast.headers[DRAINING_HEADER]).toBe('1');
    expect(performance.now() - signalled).toBeLessThan(DRAIN_MS);
    expect(await exited(child), said).toBe(0);
    expect(performance.now() - signalled).toBeGreaterThanOrEqual(DRAIN_MS);
    await pool.close();
  });
});
