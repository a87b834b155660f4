import { Counter } from 'prom-client';
import type { Metrics } from './metrics.ts';

/** Parts an aggregated answer (a home page) left out, so a dashboard shows which dependency degrades it. */
export function createAggregateMetrics(metrics: Metrics) {
  const degraded = new Counter({
    name: 'scalemart_aggregate_parts_degraded_total',
    help: 'Parts of an aggregated answer left out, by aggregate, part and reason (failed or late)',
    labelNames: ['aggregate', 'part', 'reason'] as const,
    registers: [metrics.registry],
  });
  return {
    /** The `onDegraded` of one aggregate. */
    degradedIn: (aggregate: string) => (part: string, reason: 'failed' | 'late') => degraded.inc({ aggregate, part, reason }),
  };
}
