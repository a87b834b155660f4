import { Gauge, Histogram } from 'prom-client';
import type { Database } from '../db/database.ts';
import type { Metrics } from './metrics.ts';

export interface DatabaseMetrics {
  /** Records one connection checkout's wait on the named database's pool. */
  onAcquireWait(database: string): (ms: number) => void;
  /** Reports the database's statements and pool occupancy under its name (main, replica-1, shard-0…). */
  watch(db: Database, database: string): void;
}

/** The pool-sizing signals per database: occupancy at scrape time, and how long checkouts waited. */
export function createDatabaseMetrics(metrics: Metrics): DatabaseMetrics {
  const watched = new Map<string, Database>();
  const acquireWait = new Histogram({
    name: 'scalemart_db_pool_acquire_wait_seconds',
    help: 'Time a query waited for a free pooled connection',
    labelNames: ['database'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [metrics.registry],
  });
  new Gauge({
    name: 'scalemart_db_statements_sent',
    help: 'Statements sent to each database since start',
    labelNames: ['database'] as const,
    registers: [metrics.registry],
    collect() {
      for (const [database, db] of watched) this.set({ database }, db.stats().queries);
    },
  });
  new Gauge({
    name: 'scalemart_db_pool_connections',
    help: 'Pooled connections by database and state (total, idle, waiting clients, max)',
    labelNames: ['database', 'state'] as const,
    registers: [metrics.registry],
    collect() {
      for (const [database, db] of watched) {
        const pool = db.stats().pool;
        if (!pool) continue;
        for (const [state, value] of Object.entries(pool)) this.set({ database, state }, value);
      }
    },
  });
  return {
    onAcquireWait: (database) => (ms) => acquireWait.observe({ database }, ms / 1000),
    watch: (db, database) => void watched.set(database, db),
  };
}
