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
