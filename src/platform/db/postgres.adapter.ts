import pg from 'pg';
import type { Database, Queryable, QueryResult } from './database.ts';

export interface PostgresOptions {
  connectionString: string;
  /** Pool size; the composition root computes it from the configured formula. */
  poolSize: number;
  /** Milliseconds to wait for a free connection before failing. */
  connectionTimeoutMs?: number;
  /** Told how long each checkout waited for a connection (ms): the pool-sizing signal. */
  onAcquireWait?: (ms: number) => void;
  /** `wal`: events appended through this database go to its outbox in the WAL (events/wal-relay.ts). */
  outbox?: 'table' | 'wal';
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
  const outbox = options.outbox === 'wal' ? { outbox: 'wal' as const } : {};

  function wrap(target: pg.PoolClient): Queryable {
    return {
      ...outbox,
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
  // A checked-out client whose server dies emits 'error' besides failing its query; the failure
  // reaches the caller through the query, and an unheard 'error' event would crash the process.
  const listening = new WeakSet<pg.PoolClient>();
  const ignore = () => undefined;

  /** Checks a connection out, timing the wait; `pool.query` would hide it. */
  async function acquire(): Promise<pg.PoolClient> {
    const started = performance.now();
    const client = await pool.connect();
    if (!listening.has(client)) {
      client.on('error', ignore);
      listening.add(client);
    }
    options.onAcquireWait?.(performance.now() - started);
    return client;
  }

  async function withClient<T>(work: (client: Queryable) => Promise<T>): Promise<T> {
    const client = await acquire();
    let broken = false;
    try {
      return await work(wrap(client));
    } catch (error) {
      // A connection-level failure leaves the client unusable; destroy it rather than reuse it.
      broken = !(typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' && /^[0-9A-Z]{5}$/.test(error.code));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  return {
    engine: 'postgres',
    ...outbox,
    query: (sql, params) => withClient((client) => client.query(sql, params)),
    exec: (sql) => withClient((client) => client.exec(sql)),
    async transaction(fn) {
      const client = await acquire();
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
    ping: () => withClient(async (client) => void (await client.query('select 1'))),
    stats: () => ({ queries, pool: { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: options.poolSize } }),
    close: () => pool.end(),
  };
}
