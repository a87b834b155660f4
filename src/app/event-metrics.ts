import { Gauge } from 'prom-client';
import type { Metrics } from '../platform/observability/metrics.ts';
import type { Core } from './core.ts';

/** Consumer lag and outbox backlog, read at scrape time. */
export function registerEventMetrics(metrics: Metrics, core: Pick<Core, 'transport' | 'relay' | 'consumers'>): void {
  new Gauge({
    name: 'scalemart_event_consumer_lag',
    help: 'Events in the log a durable consumer has not settled yet',
    labelNames: ['consumer'] as const,
    registers: [metrics.registry],
    async collect() {
      for (const spec of core.consumers) this.set({ consumer: spec.name }, await core.transport.lag(spec));
    },
  });
  new Gauge({
    name: 'scalemart_outbox_pending',
    help: 'Committed events the relay has not published yet',
    registers: [metrics.registry],
    async collect() {
      this.set(await core.relay.pending());
    },
  });
}
