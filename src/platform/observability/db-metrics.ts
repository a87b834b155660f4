import { Gauge, Histogram } from 'prom-client';
import type { Database } from '../db/database.ts';
import type { Metrics } from './metrics.ts';

/** The pool-sizing signals: occupancy at scrape time, and how long checkouts waited. */
export function createDatabaseMetrics(metrics: Metrics) {
  const acquireWait = new Histogram({
    name: 'scalemart_db_pool_acquire_wait_seconds',
    help: 'Time a query waited for a free pooled connection',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [metrics.registry],
  });
  return {
    onAcquireWait: (ms: number) => acquireWait.observe(ms / 1000),
    watch(db: Database): void {
      new Gauge({ name: 'scalemart_db_statements_sent', help: 'Statements sent to the database since start', registers: [metrics.registry], collect() { this.set(db.stats().queries); } });
      new Gauge({
        name: 'scalemart_db_pool_connections',
        help: 'Pooled connections by state (total, idle, waiting clients, max)',
        labelNames: ['state'] as const,
        registers: [metrics.registry],
        collect() {
          const pool = db.stats().pool;
          if (!pool) return;
          for (const [state, value] of Object.entries(pool)) this.set({ state }, value);
        },
      });
    },
  };
}
