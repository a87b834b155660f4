export interface ScatterGatherOptions<T> {
  readonly shards: readonly string[];
  /**
   * Runs the query on one shard. It should stop when `signal` aborts (pass it to the driver); the
   * gather stops waiting at the timeout either way. Push the sort and limit into the SQL too: each
   * shard then returns at most `limit` rows and the merge stays small.
   */
  readonly query: (shard: string, signal: AbortSignal) => Promise<readonly T[]>;
  /** Budget of each shard's query, in milliseconds, started together. */
  readonly timeoutMs: number;
  /** Order of the merged rows (as for Array.prototype.sort). */
  readonly compare: (a: T, b: T) => number;
  /** Maximum rows returned after the merge; omit for all. */
  readonly limit?: number;
  /** Aborts every shard's query, e.g. when the client went away. */
  readonly signal?: AbortSignal;
}

export interface ShardFailure {
  readonly shard: string;
  readonly reason: 'timeout' | 'error' | 'aborted';
  readonly cause?: unknown;
}

export interface ScatterGatherResult<T> {
  readonly rows: readonly T[];
  /** Shards that timed out, failed or were aborted, in `shards` order: the rows lack their share when non-empty. */
  readonly partial: readonly string[];
  readonly failures: readonly ShardFailure[];
}

type Outcome<T> = { readonly ok: true; readonly rows: readonly T[] } | { readonly ok: false; readonly failure: ShardFailure };

/**
 * Runs a query on every shard at once and merges the answers. A slow or failed shard does not fail
 * the whole read: the result says which shards are missing, and the caller decides whether partial
 * rows are acceptable (a listing page: yes, with a warning; a total: no).
 */
export async function scatterGather<T>(options: ScatterGatherOptions<T>): Promise<ScatterGatherResult<T>> {
  const { shards, query, timeoutMs, compare, limit, signal } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`scatterGather: timeoutMs must be positive, got ${timeoutMs}`);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new RangeError(`scatterGather: limit must be a non-negative integer, got ${limit}`);

  const outcomes = await Promise.all(shards.map((shard) => queryOne(shard, query, timeoutMs, signal)));
  const rows: T[] = [];
  const failures: ShardFailure[] = [];
  for (const outcome of outcomes) {
    if (outcome.ok) rows.push(...outcome.rows);
    else failures.push(outcome.failure);
  }
  // Sort is stable, so rows that compare equal keep shard order: repeatable pages.
  rows.sort(compare);
  return {
    rows: limit === undefined ? rows : rows.slice(0, limit),
    partial: failures.map((f) => f.shard),
    failures,
  };
}

function queryOne<T>(
  shard: string,
  query: ScatterGatherOptions<T>['query'],
  timeoutMs: number,
  outer: AbortSignal | undefined,
): Promise<Outcome<T>> {
  const controller = new AbortController();
  return new Promise<Outcome<T>>((resolve) => {
    let settled = false;
    const finish = (outcome: Outcome<T>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
      resolve(outcome);
    };
    const onOuterAbort = (): void => {
      controller.abort(outer?.reason);
      finish({ ok: false, failure: { shard, reason: 'aborted', cause: outer?.reason } });
    };
    const timer = setTimeout(() => {
      // Tell the query to stop, and stop waiting for it even if it ignores the signal.
      controller.abort(new DOMException(`shard ${shard} exceeded ${timeoutMs} ms`, 'TimeoutError'));
      finish({ ok: false, failure: { shard, reason: 'timeout' } });
    }, timeoutMs);
    if (outer?.aborted) {
      onOuterAbort();
      return;
    }
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    // Promise.resolve().then also catches a query that throws synchronously.
    Promise.resolve()
      .then(() => query(shard, controller.signal))
      .then(
        (rows) => finish({ ok: true, rows }),
        (cause: unknown) => finish({ ok: false, failure: { shard, reason: 'error', cause } }),
      );
  });
}
