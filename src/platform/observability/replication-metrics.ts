import { Counter, Gauge } from 'prom-client';
import type { ReadTarget, ReadWriteRouter, RouterEvents } from '../db/replication/read-write-router.ts';
import type { Metrics } from './metrics.ts';

/** Where reads went, how far each replica lags, and how often a replica's read fell back to the primary. */
export function createReplicationMetrics(metrics: Metrics): RouterEvents & { watch(router: ReadWriteRouter): void } {
  const reads = new Counter({ name: 'scalemart_db_reads_total', help: 'Plain reads by the server that answered (a replica, or primary)', labelNames: ['target'] as const, registers: [metrics.registry] });
  const fallbacks = new Counter({ name: 'scalemart_db_read_fallbacks_total', help: 'Reads a replica failed and the primary answered', labelNames: ['replica'] as const, registers: [metrics.registry] });
  return {
    onRead: (target: ReadTarget) => reads.inc({ target }),
    onFallback: (replica: string) => fallbacks.inc({ replica }),
    watch(router) {
      new Gauge({
        name: 'scalemart_db_replica_lag_bytes',
        help: 'WAL bytes a replica has still to replay, at its last probe',
        labelNames: ['replica'] as const,
        registers: [metrics.registry],
        collect() {
          for (const state of router.state()) if (state.lagBytes !== null) this.set({ replica: state.name }, Number(state.lagBytes));
        },
      });
      new Gauge({
        name: 'scalemart_db_replica_healthy',
        help: '1 while a replica answers its probe and is used for reads, 0 while it is ejected',
        labelNames: ['replica'] as const,
        registers: [metrics.registry],
        collect() {
          for (const state of router.state()) this.set({ replica: state.name }, state.healthy ? 1 : 0);
        },
      });
    },
  };
}
