import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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
});
