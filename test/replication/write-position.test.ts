import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../../src/platform/db/postgres.adapter.ts';
import { startTestInfra, type TestInfra } from '../support/infra.ts';
import { parseWritePosition } from '../../src/platform/db/replication/write-position.ts';
import { bearer, startTestMonolith, type TestMonolith } from '../support/monolith.ts';

const HEADER = 'x-scalemart-write-position';

async function delayReplay(url: string, delay: string): Promise<void> {
  const replica = createPostgresDatabase({ connectionString: url, poolSize: 1 });
  await replica.exec(`alter system set recovery_min_apply_delay = '${delay}'`);
  await replica.query('select pg_reload_conf()');
  await replica.close();
}

/** Until every replica this instance routes to has replayed `position` (the primary keeps writing: leases, polls). */
async function replayed(m: TestMonolith, position: bigint, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    await m.replication!.router.probe();
    if (m.replication!.router.state().every((s) => s.healthy && s.replayLsn !== null && s.replayLsn >= position)) return;
    if (Date.now() > deadline) throw new Error(`replicas did not replay ${position}: ${JSON.stringify(m.replication!.router.state(), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Two instances behind an imagined balancer, on one primary whose replicas apply the WAL 5 s
 * late. A client writes on A and reads on B: B has never seen it, so only the position the client
 * carries can keep it from reading a replica that does not have the write yet.
 */
describe('read-your-writes across instances, with the write position carried by the client', () => {
  let infra: TestInfra;
  let a: TestMonolith;
  let b: TestMonolith;
  let token: string;

  beforeAll(async () => {
    infra = await startTestInfra({ basePort: 27132 });
    for (const url of infra.replicas) await delayReplay(url, '5s');
    const env = {
      DATABASE_URL: infra.main, DATABASE_REPLICA_URLS: infra.replicas.join(','),
      // Caching off: every read reaches the read/write router.
      CACHE_MODE: 'off', JWT_SECRET: 'write-position-test-secret-shared-by-a-and-b', SEED_DEMO_PRODUCTS: '0', LOG_LEVEL: 'warn',
    };
    a = await startTestMonolith(env);
    b = await startTestMonolith(env);
    const signedUp = await a.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: 'carried@scalemart.test', password: 'password-123', name: 'Test User', country: 'DE' } });
    expect(signedUp.statusCode).toBe(201);
    token = signedUp.json<{ token: string }>().token;
    // The account (and the schema before it) reach the replicas; from here on they are 5 s behind every write.
    const position = parseWritePosition(signedUp.headers[HEADER] as string)!;
    await replayed(a, position);
    await replayed(b, position);
  }, 180_000);

  afterAll(async () => {
    await a?.dispose();
    await b?.dispose();
    await infra?.stop();
  }, 60_000);

  it('sees a write made on instance A when reading on instance B with the position A answered', async () => {
    const patched = await a.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: bearer(token), payload: { name: 'Written On A' } });
    expect(patched.statusCode).toBe(200);
    const position = patched.headers[HEADER];
    expect(position).toMatch(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/);

    // Without the position, B serves the read from a replica that has not applied the write yet.
    const stale = await b.app.inject({ url: '/api/v1/users/me', headers: bearer(token) });
    expect(stale.json().name).toBe('Test User');
    // With it, B reads where the write is.
    const fresh = await b.app.inject({ url: '/api/v1/users/me', headers: { ...bearer(token), [HEADER]: String(position) } });
    expect(fresh.statusCode).toBe(200);
    expect(fresh.json().name).toBe('Written On A');
    // A read carries no new position back.
    expect(fresh.headers[HEADER]).toBeUndefined();
  });

  it('routes an absurd future position to the primary and ignores a malformed one', async () => {
    const patched = await a.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: bearer(token), payload: { name: 'Written Again' } });
    expect(patched.statusCode).toBe(200);
    const future = await b.app.inject({ url: '/api/v1/users/me', headers: { ...bearer(token), [HEADER]: 'FFFFFFFF/FFFFFFFF' } });
    expect(future.statusCode).toBe(200);
    expect(future.json().name).toBe('Written Again');
    for (const malformed of ['garbage', '1/2/3', '123456789/0', `${'F'.repeat(200)}/0`]) {
      const response = await b.app.inject({ url: '/api/v1/users/me', headers: { ...bearer(token), [HEADER]: malformed } });
      expect(response.statusCode, malformed).toBe(200);
      // Treated as absent: the stale replica answers.
      expect(response.json().name, malformed).not.toBe('Written Again');
    }
  });
});
