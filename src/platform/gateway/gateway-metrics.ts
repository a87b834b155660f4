import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What a failed try was, as counted per instance. */
export type FailureKind = 'connect' | 'reset' | 'timeout' | 'status';

/** The series of one upstream instance, bound once so a request pays no label hashing. */
export interface InstanceSeries {
  requests: { inc(): void };
  latency: { observe(seconds: number): void };
  errors: Record<FailureKind, { inc(): void }>;
  ejections: { inc(): void };
}

export interface GatewayMetrics {
  instance(pool: string, instance: string): InstanceSeries;
  retries(pool: string): { inc(): void };
  limiterDecision(decision: 'allowed' | 'refused'): { inc(): void };
  /** Registers collect-time gauges: in-flight and health per instance (read from the pools, not per request). */
  observeState(read: () => Iterable<{ pool: string; instance: string; inFlight: number; healthy: boolean; ejected: boolean }>): void;
}

/** The gateway's per-instance metrics, on the process's registry (scraped at the gateway's /metrics). */
export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  const labels = ['pool', 'instance'] as const;
  const requests = new Counter({ name: 'scalemart_gateway_upstream_requests_total', help: 'Tries sent to each upstream instance', labelNames: labels, registers: [registry] });
  const errors = new Counter({ name: 'scalemart_gateway_upstream_errors_total', help: 'Failed tries per upstream instance, by kind (connect, reset, timeout, status = 5xx)', labelNames: [...labels, 'kind'] as const, registers: [registry] });
  const latency = new Histogram({
    name: 'scalemart_gateway_upstream_latency_seconds',
    help: 'Time from sending a try to the upstream instance to its answer: the whole answer when read whole (up to 1 MiB), else its headers',
    labelNames: labels,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const ejections = new Counter({ name: 'scalemart_gateway_upstream_ejections_total', help: 'Times an instance was ejected by outlier detection', labelNames: labels, registers: [registry] });
  const retries = new Counter({ name: 'scalemart_gateway_retries_total', help: 'Retries sent, per pool', labelNames: ['pool'] as const, registers: [registry] });
  const limiter = new Counter({ name: 'scalemart_gateway_ratelimit_decisions_total', help: 'Shared rate-limit decisions at the gateway', labelNames: ['decision'] as const, registers: [registry] });
  let read: Parameters<GatewayMetrics['observeState']>[0] = () => [];
  new Gauge({
    name: 'scalemart_gateway_upstream_in_flight', help: 'Requests in flight per upstream instance', labelNames: labels, registers: [registry],
    collect() {
      this.reset();
      for (const s of read()) this.labels(s.pool, s.instance).set(s.inFlight);
    },
  });
  new Gauge({
    name: 'scalemart_gateway_upstream_healthy', help: '1 when the instance passes its health checks and is not ejected', labelNames: labels, registers: [registry],
    collect() {
      this.reset();
      for (const s of read()) this.labels(s.pool, s.instance).set(s.healthy ? 1 : 0);
    },
  });
  new Gauge({
    name: 'scalemart_gateway_upstream_ejected', help: '1 while outlier detection keeps the instance out', labelNames: labels, registers: [registry],
    collect() {
      this.reset();
      for (const s of read()) this.labels(s.pool, s.instance).set(s.ejected ? 1 : 0);
    },
  });
  return {
    instance(pool, instance) {
      return {
        requests: requests.labels(pool, instance),
        latency: latency.labels(pool, instance),
        errors: {
          connect: errors.labels(pool, instance, 'connect'),
          reset: errors.labels(pool, instance, 'reset'),
          timeout: errors.labels(pool, instance, 'timeout'),
          status: errors.labels(pool, instance, 'status'),
        },
        ejections: ejections.labels(pool, instance),
      };
    },
    retries: (pool) => retries.labels(pool),
    limiterDecision: (decision) => limiter.labels(decision),
    observeState(fn) {
      read = fn;
    },
  };
}
