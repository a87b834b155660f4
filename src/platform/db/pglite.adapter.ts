import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult } from './database.ts';

export interface PgliteOptions {
  /** A directory to persist into, or `memory://` for a throw-away database. */
  dataDir: string;
}

/**
 * Embedded PostgreSQL (PGlite, WASM) for the monolith stage. PGlite has one connection, so every
 * statement and transaction is queued here: a statement issued while another caller's transaction
 * is open waits for it instead of landing inside it.
 */
export async function createPgliteDatabase(options: PgliteOptions): Promise<Database> {
  const inMemory = options.dataDir === 'memory://';
  if (!inMemory) await mkdir(options.dataDir, { recursive: true });
  const pg = await PGlite.create(inMemory ? undefined : options.dataDir);
  let tail: Promise<unknown> = Promise.resolve();
  let queries = 0;
  // Marks work running inside a transaction: a statement sent through the outer handle from
  // there would wait for the transaction it is part of, forever. Failing loudly beats hanging.
  const insideTransaction = new AsyncLocalStorage<boolean>();

  function exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (insideTransaction.getStore()) {
      return Promise.reject(new Error('PGlite: a statement was sent through the database handle inside a transaction; use the transaction handle (tx) instead'));
    }
    const run = tail.then(work, work);
    tail = run.catch(() => undefined);
    return run;
  }

  function wrap(target: Pick<PGlite, 'query' | 'exec'>): Queryable {
    return {
      async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
        queries++;
        const result = await target.query<R>(sql, params as unknown[]);
        return { rows: result.rows, rowCount: result.affectedRows ?? 0 };
      },
      async exec(sql: string): Promise<void> {
        queries++;
        await target.exec(sql);
      },
    };
  }
  const direct = wrap(pg);

  return {
    engine: 'pglite',
    query: (sql, params) => exclusive(() => direct.query(sql, params)),
    exec: (sql) => exclusive(() => direct.exec(sql)),
    transaction: (fn) => exclusive(() => insideTransaction.run(true, () => pg.transaction((tx) => fn(wrap(tx))))),
    ping: () => exclusive(async () => void (await direct.query('select 1'))),
    stats: () => ({ queries }),
    close: () => exclusive(() => pg.close()),
  };
}
