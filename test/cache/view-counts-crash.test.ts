import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN } from '../support/monolith.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.ts';
import { createRestartableScalemart } from '../support/process.ts';

const VIEWS = 10_000;

/** On a PostgreSQL server, and on the default: the PostgreSQL server the process embeds. */
const engines: [string, () => Promise<Pick<ScratchDatabase, 'url' | 'drop'>>][] = [
  ['PostgreSQL', () => createScratchDatabase('scalemart_views')],
  ['the default embedded database', async () => ({ url: '', drop: async () => undefined })],
];

describe.each(engines)('write-behind view counts survive SIGKILL (%s)', (_name, openDatabase) => {
  let database: Pick<ScratchDatabase, 'url' | 'drop'>;
  let dataDir: string;
  let server: Awaited<ReturnType<typeof createRestartableScalemart>> | undefined;
  let origin = '';

  beforeAll(async () => {
    database = await openDatabase();
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'scalemart-views-'));
    server = await createRestartableScalemart({
      SCALEMART_DATA_DIR: dataDir, DATABASE_URL: database.url, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password,
      SEED_DEMO_PRODUCTS: '0', LOG_LEVEL: 'warn', RATE_LIMIT_POINTS: '100000000',
    });
    origin = server.origin;
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it(`stores exactly ${VIEWS} views though the process is killed in the middle of them`, async () => {
    const login = await (await fetch(`${origin}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) })).json() as { token: string };
    const created = await (await fetch(`${origin}/api/v1/products`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${login.token}` },
      body: JSON.stringify({ sku: 'VIEWS-1', name: 'Popular', category: 'Test', price: 1 }),
    })).json() as { id: string };
    const run = randomBytes(4).toString('hex');
    let sent = 0;
    let kills = 0;
    const killer = (async () => {
      for (const at of [VIEWS * 0.3, VIEWS * 0.6]) {
        while (sent < at) await new Promise((r) => setTimeout(r, 5));
        await server!.restart('SIGKILL');
        kills++;
      }
    })();
    // A client retries a view whose answer it did not get, with the same view id.
    const send = async (i: number) => {
      for (;;) {
        const ok = await fetch(`${origin}/api/v1/products/${created.id}/views`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ viewId: `${run}-${i}` }),
        }).then((r) => r.status === 202, () => false);
        if (ok) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await Promise.all(Array.from({ length: 20 }, async (_, worker) => {
      for (let i = worker; i < VIEWS; i += 20) {
        await send(i);
        sent++;
      }
    }));
    await killer;
    expect(kills).toBe(2);
    const deadline = Date.now() + 20_000;
    let views = 0;
    while (Date.now() < deadline && (views = ((await (await fetch(`${origin}/api/v1/products/${created.id}/views`)).json()) as { views: number }).views) < VIEWS) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(views).toBe(VIEWS);
  }, 120_000);
});
