import pg from 'pg';
import type { Database, Queryable, QueryResult } from './database.ts';

export interface PostgresOptions {
  connectionString: string;
  /** Pool size; the composition root computes it from the configured formula. */
  poolSize: number;
  /** Milliseconds to wait for a free connection before failing. */
  connectionTimeoutMs?: number;
}

/** node-postgres adapter for a real PostgreSQL server. */
export function createPostgresDatabase(options: PostgresOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
  });
  // An idle client that loses its server emits here; without a listener it would crash the process.
  pool.on('error', () => undefined);
  let queries = 0;

  function wrap(target: pg.Pool | pg.PoolClient): Queryable {
    return {
      async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
        queries++;
        const result = await target.query(sql, params as unknown[]);
        return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
      },
      async exec(sql: string): Promise<void> {
        queries++;
        await target.query(sql);
      },
    };
  }
  const direct = wrap(pool);

  return {
    engine: 'postgres',
    query: direct.query,
    exec: direct.exec,
    async transaction(fn) {
      const client = await pool.connect();
      let broken = false;
      try {
        await client.query('begin');
        const result = await fn(wrap(client));
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback').catch(() => (broken = true));
        throw error;
      } finally {
        client.release(broken);
      }
    },
    ping: async () => void (await direct.query('select 1')),
    stats: () => ({ queries }),
    close: () => pool.end(),
  };
}
