/** The database port: what every module needs from PostgreSQL, whichever engine serves it. */

export interface QueryResult<R> {
  rows: R[];
  /** Rows changed by INSERT/UPDATE/DELETE; 0 for SELECT. */
  rowCount: number;
}

export interface Queryable {
  /** One parameterised statement ($1, $2, …). */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Where events appended through this connection go: `wal` when the database keeps its outbox in
   * the write-ahead log (`EVENTS_OUTBOX=wal`, see events/wal-relay.ts); otherwise the outbox table.
   */
  readonly outbox?: 'wal';
}

export interface DatabaseStats {
  /** Statements sent to the engine since start: the lab divides it by requests. */
  queries: number;
  /** Connection pool occupancy, for engines with a pool. */
  pool?: { total: number; idle: number; waiting: number; max: number };
}

export interface Database extends Queryable {
  readonly engine: 'pglite' | 'postgres';
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  stats(): DatabaseStats;
  close(): Promise<void>;
}

/** SQLSTATE codes the modules react to. */
export const SqlState = {
  uniqueViolation: '23505',
  checkViolation: '23514',
  foreignKeyViolation: '23503',
  serializationFailure: '40001',
} as const;

export function sqlStateOf(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return undefined;
}
