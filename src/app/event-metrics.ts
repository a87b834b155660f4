import { Counter, Gauge, Histogram } from 'prom-client';
import type { ConsumerObserver } from '../platform/events/consumer.ts';
import type { OutboxRelay } from '../platform/events/relay.ts';
import type { ConsumerSpec, EventTransport } from '../platform/events/transport.ts';
import type { Metrics } from '../platform/observability/metrics.ts';

/** A group's lag is the same whichever instance asks, so each process reads it at most this often, not on every scrape. */
const LAG_REFRESH_MS = 5_000;

export interface EventMetrics {
  consumers: ConsumerObserver;
  /** The relay's hook: events published in one batch, and how long the broker took to acknowledge them. */
  published(count: number, ms: number): void;
  /** Registers the gauges read at scrape time: consumer lag, outbox backlog, broker up. */
  watch(source: { transport: EventTransport; relays: () => OutboxRelay[]; consumers: readonly ConsumerSpec[] }): void;
}

export function createEventMetrics(metrics: Metrics): EventMetrics {
  const registers = [metrics.registry];
  const redeliveries = new Counter({ name: 'scalemart_event_redeliveries_total', help: 'Deliveries of an event after its first, by consumer', labelNames: ['consumer'] as const, registers });
  const deadLetters = new Counter({ name: 'scalemart_event_dead_letters_total', help: 'Events parked in dead letters by this process, by consumer', labelNames: ['consumer'] as const, registers });
  const publishes = new Counter({ name: 'scalemart_outbox_published_total', help: 'Outbox events this process published to the log (republishes included)', registers });
  const publishSeconds = new Histogram({
    name: 'scalemart_outbox_publish_seconds',
    help: 'Time from sending a batch of outbox events to the log until every one was acknowledged',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  return {
    consumers: {
      redelivered: (consumer) => redeliveries.inc({ consumer }),
      deadLettered: (consumer) => deadLetters.inc({ consumer }),
    },
    published(count, ms) {
      publishes.inc(count);
      publishSeconds.observe(ms / 1000);
    },
    watch({ transport, relays, consumers }) {
      const groups = consumers.filter((c) => (c.delivery ?? 'group') === 'group');
      let lags: { at: number; values: Promise<number[]> } | undefined;
      const readLags = () => {
        if (!lags || performance.now() - lags.at > LAG_REFRESH_MS) {
          lags = { at: performance.now(), values: Promise.all(groups.map((spec) => transport.lag(spec).catch(() => Number.NaN))) };
        }
        return lags.values;
      };
      new Gauge({
        name: 'scalemart_event_consumer_lag',
        help: `Events in the log a consumer group has not settled yet (pending plus unacknowledged); read at most every ${LAG_REFRESH_MS / 1000} s`,
        labelNames: ['consumer'] as const,
        registers,
        async collect() {
          const values = await readLags();
          groups.forEach((spec, i) => this.set({ consumer: spec.name }, values[i]!));
        },
      });
      new Gauge({
        name: 'scalemart_outbox_pending',
        help: 'Committed events the relays have not published yet (every outbox this process relays)',
        registers,
        async collect() {
          const counts = await Promise.all(relays().map((relay) => relay.pending().catch(() => 0)));
          this.set(counts.reduce((a, b) => a + b, 0));
        },
      });
      new Gauge({
        name: 'scalemart_event_log_up',
        help: '1 while the event log (table or JetStream) is reachable, 0 while it is down',
        registers,
        collect() {
          this.set(transport.health().up ? 1 : 0);
        },
      });
    },
  };
}
