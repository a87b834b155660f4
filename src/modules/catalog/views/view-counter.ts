import type { Database } from '../../../platform/db/database.ts';

export interface ViewCounter {
  /** Records a view durably; the same view id twice counts once. Resolves when it is stored. */
  record(productId: string, viewId: string): Promise<void>;
  /** Folds up to a batch of buffered views into the counters, in one transaction. Returns how many. */
  flush(): Promise<number>;
  /** Views counted so far (flushed), or 0. */
  views(productId: string): Promise<number>;
  /** The most viewed products (flushed counts), most first, ties by id; optionally in one category. */
  top(limit: number, category?: string): Promise<{ productId: string; views: number }[]>;
  start(): void;
  stop(): Promise<void>;
}

export interface ViewCounterOptions {
  /** How often buffered views are folded in. Default 500 ms. */
  flushEveryMs?: number;
  /**
   * While flushes find nothing and this process records no view, the wait doubles up to this, so
   * an idle shop does not query every half second; a view recorded here brings it back to
   * `flushEveryMs` at once. Views recorded by other processes are folded within it. Default 5 s.
   */
  idleFlushMaxMs?: number;
  batchSize?: number;
  /** How long flushed views are kept to recognise retries. Default 1 h. */
  dedupWindowSeconds?: number;
}

/**
 * Write-behind for a high-rate counter: a view is one small insert into an append-only buffer
 * (no contention on a hot product's counter row), and batches are folded into the counters. The
 * fold and the marking happen in one transaction, so a kill at any point neither loses nor
 * double-counts a view.
 */
export function createViewCounter(db: Database, options: ViewCounterOptions = {}): ViewCounter {
  const batchSize = options.batchSize ?? 5_000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const every = options.flushEveryMs ?? 500;
  const idleMax = Math.max(every, options.idleFlushMaxMs ?? 5_000);
  let wait = every;
  let flushing = false;

  function tick(): void {
    flushing = true;
    running = flush().catch(() => -1).then((folded) => {
      flushing = false;
      wait = folded === 0 ? Math.min(idleMax, wait * 2) : every;
      if (timer) timer = setTimeout(tick, wait);
    });
  }

  async function flush(): Promise<number> {
    return db.transaction(async (tx) => {
      const { rows } = await tx.query<{ product_id: string; n: number }>(
        `with batch as (
           select view_id from catalog.view_buffer where flushed_at is null order by viewed_at limit $1 for update skip locked
         ), marked as (
           update catalog.view_buffer b set flushed_at = now() from batch where b.view_id = batch.view_id returning b.product_id
         )
         select product_id, count(*)::int as n from marked group by product_id order by product_id`,
        [batchSize],
      );
      if (rows.length === 0) return 0;
      // Counter rows are locked in product order, so two flushers folding overlapping products queue instead of deadlocking.
      await tx.query(
        `insert into catalog.product_views (product_id, views)
         select * from unnest($1::text[], $2::bigint[])
         on conflict (product_id) do update set views = product_views.views + excluded.views, updated_at = now()`,
        [rows.map((r) => r.product_id), rows.map((r) => r.n)],
      );
      await tx.query(`delete from catalog.view_buffer where flushed_at < now() - make_interval(secs => $1)`, [options.dedupWindowSeconds ?? 3_600]);
      return rows.reduce((sum, r) => sum + r.n, 0);
    });
  }

  return {
    async record(productId, viewId) {
      await db.query('insert into catalog.view_buffer (view_id, product_id) values ($1, $2) on conflict (view_id) do nothing', [viewId, productId]);
      // Only a pending wait is cut short; a flush in flight schedules the next one itself.
      const idle = wait > every;
      wait = every;
      if (idle && timer && !flushing) {
        clearTimeout(timer);
        timer = setTimeout(tick, every);
      }
    },
    flush,
    async views(productId) {
      const { rows } = await db.query<{ views: string | number }>('select views from catalog.product_views where product_id = $1', [productId]);
      return rows[0] ? Number(rows[0].views) : 0;
    },
    async top(limit, category) {
      const { rows } = await db.query<{ product_id: string; views: string | number }>(
        category === undefined
          ? 'select product_id, views from catalog.product_views order by views desc, product_id limit $1'
          : `select v.product_id, v.views from catalog.product_views v join catalog.products p on p.id = v.product_id
             where p.category = $2 order by v.views desc, v.product_id limit $1`,
        category === undefined ? [limit] : [limit, category],
      );
      return rows.map((row) => ({ productId: row.product_id, views: Number(row.views) }));
    },
    start() {
      timer = setTimeout(tick, every);
    },
    async stop() {
      clearTimeout(timer);
      timer = undefined;
      await running;
      // What is still buffered is folded in now, so a graceful stop leaves nothing behind.
      while ((await flush().catch(() => 0)) > 0);
    },
  };
}
