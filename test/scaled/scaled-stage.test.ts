import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../../src/platform/db/postgres.adapter.ts';
import { startTestInfra, type TestInfra } from '../support/infra.ts';
import { adminToken, bearer, signup, startTestMonolith, type TestMonolith } from '../support/monolith.ts';
import { ADDRESS, settled } from '../support/orders.ts';
import { CatalogEvents, type CatalogEventCatalogue } from '../../src/modules/catalog/contract.ts';
import { appendToOutbox } from '../../src/platform/events/outbox.ts';

/** The value of one labelled series in the Prometheus text. */
function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function until(condition: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function delayReplay(url: string, delay: string): Promise<void> {
  const replica = createPostgresDatabase({ connectionString: url, poolSize: 1 });
  await replica.exec(`alter system set recovery_min_apply_delay = '${delay}'`);
  await replica.query('select pg_reload_conf()');
  await replica.close();
}

/**
 * The scaled stage over real servers from `scalemart infra`: a primary with two streaming
 * replicas, four shards. Caching is off so that every read reaches the database router. Each
 * database keeps its outbox in its WAL (the infra's servers run wal_level = logical); the
 * sharding suite and the fleet's keep it in the table.
 */
describe('the scaled stage on a primary, two replicas and four shards', () => {
  let infra: TestInfra;
  let m: TestMonolith;
  let admin: Record<string, string>;
  const metrics = async () => (await m.app.inject({ url: '/metrics' })).body;
  /** An anonymous reader from its own address: a client that never wrote. */
  const readAs = (address: string, url: string) => m.app.inject({ url, remoteAddress: address });
  const scaledEnv = (cacheMode: 'off' | 'l1') => ({
    SCALEMART_STAGE: 'scaled',
    DATABASE_URL: infra.main,
    DATABASE_REPLICA_URLS: infra.replicas.join(','),
    SHARD_URLS: infra.shards.join(','),
    REDIS_URL: infra.redis,
    JWT_SECRET: 'scaled-stage-test-secret-shared-by-instances',
    CACHE_MODE: cacheMode,
    DB_REPLICA_MAX_LAG_BYTES: String(4 * 1024 * 1024),
    EVENTS_OUTBOX: 'wal',
    LOG_LEVEL: 'warn',
  });

  beforeAll(async () => {
    infra = await startTestInfra({ basePort: 26832 });
    // Both replicas apply the WAL 2 s late: a read right after a write finds neither has it yet.
    for (const url of infra.replicas) await delayReplay(url, '2s');
    m = await startTestMonolith(scaledEnv('off'));
    admin = bearer(await adminToken(m));
    await until(async () => {
      const text = await metrics();
      return infra.replicas.every((_, i) => metric(text, 'scalemart_db_replica_healthy', `replica="replica-${i + 1}"`) === 1
        && metric(text, 'scalemart_db_replica_lag_bytes', `replica="replica-${i + 1}"`) === 0);
    });
    // A reader that never wrote, so the replicas serve it (this also shows them the schema).
    expect((await readAs('10.9.9.9', '/api/v1/products')).statusCode).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await m?.dispose();
    await infra?.stop();
  }, 60_000);

  it('logs in at once to an account another client just made, though the replicas apply it 2 s late', async () => {
    const credentials = { email: 'elsewhere@example.com', password: 'password-123' };
    const created = await m.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { ...credentials, name: 'E', country: 'DE' }, remoteAddress: '10.7.7.1' });
    expect(created.statusCode).toBe(201);
    const login = await m.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: credentials, remoteAddress: '10.7.7.2' });
    expect(login.statusCode).toBe(200);
  });

  it('shows a client its own writes at once, though the replicas apply them 2 s late', async () => {
    const { token, user } = await signup(m, 'scaled@example.com');
    const me = await m.app.inject({ url: '/api/v1/users/me', headers: bearer(token) });
    expect(me.json()).toMatchObject({ id: user.id }); // the new account, right after signup
    for (let i = 0; i < 10; i++) {
      await m.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: bearer(token), payload: { name: `Name ${i}` } });
      expect((await m.app.inject({ url: '/api/v1/users/me', headers: bearer(token) })).json().name).toBe(`Name ${i}`);
    }
    const created = await m.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload: { sku: 'SC-1', name: 'Scaled', category: 'Scaled', price: 500, stock: 10 } });
    expect((await m.app.inject({ url: `/api/v1/products/${created.json().id}`, headers: admin })).statusCode).toBe(200);
    // Reads did reach the replicas: only this client's reads went to the primary.
    const text = await metrics();
    expect(metric(text, 'scalemart_db_reads_total', 'target="replica-1"') + metric(text, 'scalemart_db_reads_total', 'target="replica-2"')).toBeGreaterThan(0);
  });

  it('never refills a cache from a replica that has not applied the change that dropped the entry', async () => {
    // A second instance, caching: its loads are served to every client, so they must not be older than the change.
    const cached = await startTestMonolith(scaledEnv('l1'));
    try {
      const created = await cached.app.inject({ method: 'POST', url: '/api/v1/products', headers: bearer(await adminToken(cached)), payload: { sku: 'SC-CACHE', name: 'Before', category: 'Cached', price: 100 } });
      const url = `/api/v1/products/${created.json().id}`;
      await until(async () => (await cached.app.inject({ url, remoteAddress: '10.7.0.1' })).json().name === 'Before', 5_000);
      // Renamed by a writer that never touched this cache (another instance): the event drops the entry here.
      await cached.db.transaction(async (tx) => {
        const { rows } = await tx.query<{ version: number }>("update catalog.products set name = 'After', version = version + 1 where id = $1 returning version", [created.json().id]);
        const payload = { productId: created.json().id, sku: 'SC-CACHE', version: rows[0]!.version, category: 'Cached', textChanged: true };
        await appendToOutbox<CatalogEventCatalogue>(tx, [{ type: CatalogEvents.updated, key: created.json().id, payload }]);
      });
      cached.relay.nudge();
      // Clients keep reading while the replicas are still 2 s behind, and after they caught up.
      const names: string[] = [];
      const until3s = Date.now() + 3_000;
      for (let i = 0; Date.now() < until3s; i++) {
        names.push((await cached.app.inject({ url, remoteAddress: `10.7.1.${i % 250}` })).json().name);
        await new Promise((r) => setTimeout(r, 25));
      }
      const first = names.indexOf('After');
      expect(first).toBeGreaterThanOrEqual(0);
      expect(names.slice(first).filter((name) => name !== 'After')).toEqual([]);
    } finally {
      await cached.dispose();
    }
  });

  it('serves other clients from the replicas, and skips the one lagging past the bound', async () => {
    // replica-1 falls a minute behind; after some MiB of WAL it is past the 4 MiB bound, while replica-2 catches up in 2 s.
    await delayReplay(infra.replicas[0]!, '60s');
    await new Promise((r) => setTimeout(r, 200));
    const primary = createPostgresDatabase({ connectionString: infra.main, poolSize: 1 });
    // The delay holds back replay at the next commit record: this one. The filler's WAL then waits behind it.
    await primary.exec('create table lag_gate ()');
    await primary.exec("create table lag_filler as select repeat('x', 200) as body from generate_series(1, 40000)");
    await primary.close();
    let before = '';
    await until(async () => {
      before = await metrics();
      return metric(before, 'scalemart_db_replica_lag_bytes', 'replica="replica-1"') > 4 * 1024 * 1024
        && metric(before, 'scalemart_db_replica_lag_bytes', 'replica="replica-2"') < 1024 * 1024;
    });
    for (let i = 0; i < 30; i++) expect((await readAs(`10.0.0.${i + 1}`, '/api/v1/products?category=Scaled')).json().items).toHaveLength(1);
    const after = await metrics();
    expect(metric(after, 'scalemart_db_reads_total', 'target="replica-2"') - metric(before, 'scalemart_db_reads_total', 'target="replica-2"')).toBeGreaterThanOrEqual(30);
    expect(metric(after, 'scalemart_db_reads_total', 'target="replica-1"')).toBe(metric(before, 'scalemart_db_reads_total', 'target="replica-1"'));
  });

  it('fails no read when a replica is stopped mid-load', async () => {
    const statuses: number[] = [];
    let stop = false;
    const load = Promise.all(Array.from({ length: 4 }, async (_, k) => {
      for (let i = 0; !stop; i++) statuses.push((await readAs(`10.1.${k}.${i % 250}`, '/api/v1/products?category=Scaled')).statusCode);
    }));
    await new Promise((r) => setTimeout(r, 300));
    execFileSync('runuser', ['-u', 'postgres', '--', 'pg_ctl', '-D', join(infra.dir, 'pg', 'replica-2'), 'stop', '-m', 'immediate'], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/local/bin` } });
    await new Promise((r) => setTimeout(r, 1_000));
    stop = true;
    await load;
    expect(statuses.length).toBeGreaterThan(50);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const text = await metrics();
    expect(metric(text, 'scalemart_db_replica_healthy', 'replica="replica-2"')).toBe(0);
  });

  it('takes orders end to end with orders and stock on the shards', async () => {
    const { token } = await signup(m, 'scaled-buyer@example.com');
    const product = (await m.app.inject({ url: '/api/v1/products?category=Scaled', headers: admin })).json().items[0];
    const placed = await m.app.inject({ method: 'POST', url: '/api/v1/orders', headers: bearer(token), payload: { items: [{ productId: product.id, quantity: 2 }], shippingAddress: ADDRESS } });
    expect(placed.statusCode).toBe(202);
    expect((await settled(m, token, placed.json().id)).status).toBe('confirmed');
    // The order history is a read model fed by the order's events: they left its shard through the
    // shard's slot, and no shard's outbox table ever took a row.
    await until(async () => {
      const history = (await m.app.inject({ url: '/api/v1/orders', headers: bearer(token) })).json() as { items: { id: string; status: string }[] };
      return history.items.some((o) => o.id === placed.json().id && o.status === 'confirmed');
    });
    for (const url of infra.shards) {
      const shard = createPostgresDatabase({ connectionString: url, poolSize: 1 });
      try {
        const { rows } = await shard.query<{ inserted: number; slots: number }>(
          `select (select n_tup_ins::int from pg_stat_user_tables where schemaname = 'events' and relname = 'outbox') as inserted,
                  (select count(*)::int from pg_replication_slots where slot_name like 'scalemart_outbox_%') as slots`,
        );
        expect(rows[0]).toEqual({ inserted: 0, slots: 1 });
      } finally {
        await shard.close();
      }
    }
  });
});
