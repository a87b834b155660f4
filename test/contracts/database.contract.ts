import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlStateOf, SqlState, type Database } from '../../src/platform/db/database.ts';
import { migrate } from '../../src/platform/db/migrations.ts';

/** The behaviour every Database adapter promises; each adapter's test file runs it. */
export function databaseContract(name: string, open: () => Promise<{ db: Database; dispose: () => Promise<void> }>) {
  describe(`Database contract: ${name}`, () => {
    let db: Database;
    let dispose: () => Promise<void>;

    beforeAll(async () => {
      ({ db, dispose } = await open());
      await db.exec(`create table items (id int primary key, name text not null, qty int not null default 0 check (qty >= 0));
                     create table counter (id int primary key, n int not null); insert into counter values (1, 0);`);
    });
    afterAll(async () => {
      await db.close();
      await dispose();
    });

    it('binds parameters and returns typed rows and affected counts', async () => {
      const insert = await db.query('insert into items (id, name) values ($1, $2), ($3, $4)', [1, 'a', 2, "b'; drop table items; --"]);
      expect(insert.rowCount).toBe(2);
      const { rows } = await db.query<{ id: number; name: string }>('select id, name from items order by id');
      expect(rows).toEqual([{ id: 1, name: 'a' }, { id: 2, name: "b'; drop table items; --" }]);
    });

    it('commits a transaction that resolves and rolls back one that throws', async () => {
      await db.transaction(async (tx) => void (await tx.query('insert into items (id, name) values (10, $1)', ['kept'])));
      await expect(
        db.transaction(async (tx) => {
          await tx.query('insert into items (id, name) values (11, $1)', ['lost']);
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      const { rows } = await db.query<{ id: number }>('select id from items where id >= 10 order by id');
      expect(rows.map((r) => r.id)).toEqual([10]);
    });

    it('reports SQLSTATE codes for constraint violations', async () => {
      const duplicate = await db.query('insert into items (id, name) values (1, $1)', ['dup']).catch((e: unknown) => e);
      expect(sqlStateOf(duplicate)).toBe(SqlState.uniqueViolation);
      const negative = await db.query('update items set qty = -1 where id = 1').catch((e: unknown) => e);
      expect(sqlStateOf(negative)).toBe(SqlState.checkViolation);
    });

    it('keeps concurrent read-modify-write transactions from losing updates', async () => {
      await Promise.all(
        Array.from({ length: 40 }, () =>
          db.transaction(async (tx) => {
            const { rows } = await tx.query<{ n: number }>('select n from counter where id = 1 for update');
            await tx.query('update counter set n = $1 where id = 1', [rows[0]!.n + 1]);
          }),
        ),
      );
      const { rows } = await db.query<{ n: number }>('select n from counter where id = 1');
      expect(rows[0]!.n).toBe(40);
    });

    it('does not let another caller see uncommitted rows', async () => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const writer = db.transaction(async (tx) => {
        await tx.query('insert into items (id, name) values (20, $1)', ['pending']);
        await held;
      });
      const reader = db.query('select id from items where id = 20');
      setTimeout(release, 20);
      await writer;
      // PGlite queues the read behind the transaction; PostgreSQL isolates it. Neither sees a half-done write.
      const { rows } = await reader;
      expect(rows.length === 0 || rows.length === 1).toBe(true);
      expect((await db.query('select id from items where id = 20')).rows).toHaveLength(1);
    });

    it('applies migrations once, in order, whatever the number of callers', async () => {
      const migrations = [
        { id: '001', sql: 'create schema m; create table m.t (v int);' },
        { id: '002', sql: 'insert into m.t values (1);' },
      ];
      const [first, second] = await Promise.all([migrate(db, 'm', migrations), migrate(db, 'm', migrations)]);
      expect([...first!, ...second!].sort()).toEqual(['001', '002']);
      expect(await migrate(db, 'm', migrations)).toEqual([]);
      expect((await db.query('select count(*)::int as n from m.t')).rows[0]).toEqual({ n: 1 });
    });

    it('answers ping and counts statements', async () => {
      const before = db.stats().queries;
      await db.ping();
      expect(db.stats().queries).toBeGreaterThan(before);
    });
  });
}
