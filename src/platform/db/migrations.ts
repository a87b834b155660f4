import type { Database } from './database.ts';

/** One forward-only schema change, identified by a stable id that sorts in application order. */
export interface Migration {
  id: string;
  sql: string;
}

/**
 * Applies the module's pending migrations, each in its own transaction, recording them in
 * `public.scalemart_migrations`. An advisory lock keeps two processes starting at once from
 * applying the same migration twice.
 */
export async function migrate(db: Database, module: string, migrations: readonly Migration[]): Promise<string[]> {
  // Even `create table if not exists` races between two servers, hence the lock around it too.
  await db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock(hashtext($1))', ['scalemart:migrate']);
    await tx.exec(`create table if not exists public.scalemart_migrations (
      module text not null, id text not null, applied_at timestamptz not null default now(),
      primary key (module, id))`);
  });
  const applied: string[] = [];
  for (const migration of migrations) {
    const done = await db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock(hashtext($1))', [`scalemart:migrate:${module}`]);
      const seen = await tx.query('select 1 from public.scalemart_migrations where module = $1 and id = $2', [module, migration.id]);
      if (seen.rows.length > 0) return false;
      await tx.exec(migration.sql);
      await tx.query('insert into public.scalemart_migrations (module, id) values ($1, $2)', [module, migration.id]);
      return true;
    });
    if (done) applied.push(migration.id);
  }
  return applied;
}
