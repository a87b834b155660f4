import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/platform/db/database.ts';
import { createPostgresDatabase } from '../../src/platform/db/postgres.adapter.ts';
import { createReadWriteRouter, type ReadWriteRouter } from '../../src/platform/db/replication/read-write-router.ts';
import { createReplicatedDatabase, createSessionContext } from '../../src/platform/db/replication/replicated-database.ts';
import { startTestInfra, type TestInfra } from '../support/infra.ts';

/** Real streaming replicas from `scalemart infra`, on ports no other suite uses. */
describe('reads on streaming replicas', () => {
  let infra: TestInfra;
  let primary: Database;
  let replicas: { name: string; db: Database }[];
  let router: ReadWriteRouter;
  const served: string[] = [];
  const sessions = createSessionContext();
  let db: Database;

  beforeAll(async () => {
    infra = await startTestInfra({ basePort: 26732 });
    primary = createPostgresDatabase({ connectionString: infra.main, poolSize: 4 });
    replicas = infra.replicas.map((url, i) => ({ name: `replica-${i + 1}`, db: createPostgresDatabase({ connectionString: url, poolSize: 4, connectionTimeoutMs: 1_000 }) }));
    // replica-1 applies the WAL 30 s late: a replica that is streaming but stale.
    await replicas[0]!.db.exec("alter system set recovery_min_apply_delay = '30s'");
    await replicas[0]!.db.query('select pg_reload_conf()');
    await primary.exec('create table if not exists notes (id serial primary key, body text not null)');
    router = createReadWriteRouter({ primary, replicas, maxLagBytes: 1024n * 1024n, probeEveryMs: 50, onRead: (target) => served.push(target) });
    db = createReplicatedDatabase(primary, router, sessions);
    router.start();
  }, 120_000);

  afterAll(async () => {
    router?.stop();
    await Promise.all([primary, ...(replicas ?? []).map((r) => r.db)].map((d) => d?.close().catch(() => undefined)));
    await infra?.stop();
  }, 60_000);

  it("shows every client its own write at once, though a replica applies the WAL 30 s late", async () => {
    for (let i = 0; i < 20; i++) {
      const session = {};
      await sessions.run(session, async () => {
        const { rows } = await db.query<{ id: number }>('insert into notes (body) values ($1) returning id', [`note ${i}`]);
        const read = await db.query('select body from notes where id = $1', [rows[0]!.id]);
        expect(read.rows).toEqual([{ body: `note ${i}` }]);
      });
    }
  });

  it('serves reads of clients that did not write from replicas, and skips one lagging past the bound', async () => {
    // A few MiB of WAL at once: the prompt replica replays it within moments, the delayed one 30 s later.
    await primary.query("insert into notes (body) select repeat('x', 200) from generate_series(1, 30000)");
    await router.probe();
    const lagging = router.state().find((s) => s.name === 'replica-1')!;
    expect(lagging.healthy).toBe(true);
    expect(lagging.lagBytes!).toBeGreaterThan(1024n * 1024n);
    for (let i = 0; i < 100 && router.state().find((s) => s.name === 'replica-2')!.lagBytes! > 0n; i++) {
      await new Promise((r) => setTimeout(r, 20));
      await router.probe();
    }
    served.length = 0;
    for (let i = 0; i < 40; i++) await db.query('select count(*) from notes');
    expect(served.filter((t) => t === 'replica-2').length).toBe(40);
  });

  it('loses no read when a replica is stopped mid-load', async () => {
    served.length = 0;
    const failures: unknown[] = [];
    const load = (async () => {
      for (let i = 0; i < 300; i++) {
        await db.query('select count(*) from notes').catch((error: unknown) => failures.push(error));
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    execFileSync('runuser', ['-u', 'postgres', '--', 'pg_ctl', '-D', join(infra.dir, 'pg', 'replica-2'), 'stop', '-m', 'immediate'], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/local/bin` } });
    await load;
    expect(failures).toEqual([]);
    expect(served).toContain('primary');
    expect(router.state().find((s) => s.name === 'replica-2')!.healthy).toBe(false);
  });
});
