import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createMonolith, type Monolith, type MonolithOverrides } from '../../src/app/monolith.ts';
import { loadConfig } from '../../src/platform/config/config.ts';
import { createLogger } from '../../src/platform/observability/logger.ts';

export const ADMIN = { email: 'admin@scalemart.test', password: 'correct horse battery' };

export interface TestMonolith extends Monolith {
  dataDir: string;
  /** Every log line written so far, as text. */
  logs(): string;
  dispose(): Promise<void>;
}

/** A monolith on an in-memory PGlite with a throw-away data directory and captured logs. */
export async function startTestMonolith(env: Record<string, string> = {}, overrides: MonolithOverrides = {}): Promise<TestMonolith> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'scalemart-test-'));
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) });
  const config = loadConfig({
    SCALEMART_DATA_DIR: dataDir,
    DATABASE_URL: 'memory://',
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    RATE_LIMIT_POINTS: '100000',
    LOG_LEVEL: 'info',
    ...env,
  });
  const monolith = await createMonolith(config, createLogger(config.logLevel, sink), overrides);
  return {
    ...monolith,
    dataDir,
    logs: () => lines.join(''),
    async dispose() {
      await monolith.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function signup(m: Monolith, email: string, password = 'password-123') {
  const response = await m.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password, name: 'Test User', country: 'DE' } });
  if (response.statusCode !== 201) throw new Error(`signup failed: ${response.statusCode} ${response.body}`);
  return response.json<{ user: { id: string; email: string }; token: string }>();
}

export async function adminToken(m: Monolith): Promise<string> {
  const response = await m.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: ADMIN });
  if (response.statusCode !== 200) throw new Error(`admin login failed: ${response.statusCode} ${response.body}`);
  return response.json<{ token: string }>().token;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The sum of every series on `/metrics` whose line starts with `prefix`. */
export async function sampleMetric(m: Monolith, prefix: string): Promise<number> {
  const text = (await m.app.inject({ url: '/metrics' })).body;
  return text.split('\n').filter((line) => line.startsWith(prefix)).reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

/**
 * Waits until the instances' event work is done: every outbox relayed, no consumer behind, and
 * cache loads still for a second. A write's events drop pages from the cache on whichever instance
 * handles them; a test that counts cache loads must let them land first, or on a loaded machine
 * they land among the counted reads.
 */
export async function settleEvents(instances: Monolith[], timeoutMs = 30_000): Promise<void> {
  const loads = async () => (await Promise.all(instances.map((m) => sampleMetric(m, 'scalemart_cache_loads_total')))).reduce((a, b) => a + b, 0);
  let settled = await loads();
  for (let quiet = 0, deadline = Date.now() + timeoutMs; quiet < 5; ) {
    if (Date.now() > deadline) throw new Error('the instances\' events did not settle in time');
    await new Promise((r) => setTimeout(r, 200));
    const now = await loads();
    let behind = 0;
    for (const m of instances) behind += (await sampleMetric(m, 'scalemart_outbox_pending')) + (await sampleMetric(m, 'scalemart_event_consumer_lag'));
    quiet = now === settled && behind === 0 ? quiet + 1 : 0;
    settled = now;
  }
}
