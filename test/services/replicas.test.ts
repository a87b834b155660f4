import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceDatabaseUrl } from '../../src/platform/db/service-database.ts';
import { startPrivateNats, type PrivateNats } from '../support/nats.ts';
import { startTestInfra, type TestInfra } from '../support/infra.ts';
import { queryDatabase } from '../support/order-effects.ts';
import { freePort, startScalemartProcess, type Running } from '../support/process.ts';
import { eventually, INTERNAL_SECRET, JWT_SECRET, metric } from './support.ts';

/**
 * A service with a database of its own (`DATABASE_PER_SERVICE`) on real streaming replicas from
 * `scalemart infra`: the identity service creates `<database>_identity` on the primary, the
 * replicas receive it by replication, and the service's plain reads are served there.
 */
describe('a service in a database of its own, on streaming replicas', () => {
  let infra: TestInfra;
  let nats: PrivateNats;
  let dataDir: string;
  let service: Running;
  let origin: string;

  beforeAll(async () => {
    infra = await startTestInfra({ basePort: 27432 });
    nats = await startPrivateNats({ port: await freePort() });
    dataDir = await mkdtemp(path.join(tmpdir(), 'scalemart-service-replicas-'));
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    service = await startScalemartProcess({
      SCALEMART_ROLE: 'service', SCALEMART_MODULES: 'identity', SCALEMART_STAGE: 'scaled',
      DATABASE_URL: infra.main, DATABASE_REPLICA_URLS: infra.replicas.join(','), DATABASE_PER_SERVICE: 'true',
      // Caching off: every read reaches the read/write router.
      CACHE_MODE: 'off', REDIS_URL: infra.redis, NATS_URL: nats.url, JWT_SECRET, INTERNAL_SECRET,
      SCALEMART_DATA_DIR: dataDir, SEED_DEMO_PRODUCTS: '0', LOG_LEVEL: 'warn', RATE_LIMIT_POINTS: '100000',
    }, port);
  }, 180_000);

  afterAll(async () => {
    if (service && service.child.exitCode === null) {
      service.child.kill('SIGTERM');
      await service.exited;
    }
    await nats?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await infra?.stop();
  }, 60_000);

  it('writes to its own database on the primary, which reaches every replica, and serves reads from the replicas', async () => {
    const signup = await fetch(`${origin}/api/v1/auth/signup`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'replicated@example.com', password: 'password-123', name: 'Replicated', country: 'DE' }),
    });
    expect(signup.status).toBe(201);
    const { token } = (await signup.json()) as { token: string };

    for (const url of [infra.main, ...infra.replicas]) {
      const users = () => queryDatabase<{ email: string }>(serviceDatabaseUrl(url, ['identity']), 'select email from identity.users');
      expect((await eventually(users, (rows) => rows.length === 1, 10_000)).map((r) => r.email), url).toEqual(['replicated@example.com']);
    }
    // The database the URL names holds no module's tables.
    expect(await queryDatabase(infra.main, "select 1 from pg_namespace where nspname = 'identity'")).toEqual([]);

    // Reads of the account: once the replicas have the write, the router sends them there.
    const readsOnReplicas = async () => {
      const text = await (await fetch(`${origin}/metrics`)).text();
      return ['replica-1', 'replica-2'].reduce((sum, target) => sum + (metric(text, 'scalemart_db_reads_total', `target="${target}"`) ?? 0), 0);
    };
    const before = await readsOnReplicas();
    // The router learns the replicas' replay positions from a probe every 250 ms (later on a busy
    // machine), so the first reads after the write may still go to the primary: read until one
    // lands on a replica.
    const readAccount = async () => {
      const me = await fetch(`${origin}/api/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(me.status).toBe(200);
      return readsOnReplicas();
    };
    expect(await eventually(readAccount, (reads) => reads > before, 15_000)).toBeGreaterThan(before);
  }, 60_000);
});
