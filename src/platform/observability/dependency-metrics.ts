import { Counter, Gauge, Histogram } from 'prom-client';
import type { CircuitStateName, DependencyObserver, DependencyPolicy } from '../resilience/policy.ts';
import type { Metrics } from './metrics.ts';

const STATE_VALUE: Record<CircuitStateName, number> = { closed: 0, 'half-open': 1, open: 2 };

/** An outside system (payment provider, carrier…) or another Scalemart service (its contract's client). */
export type DependencyKind = 'provider' | 'service';

/**
 * The circuit of each dependency (0 closed, 1 half-open, 2 open) and the calls in its bulkhead
 * (running, queued), read at scrape time; how long the calls an open circuit refused took to
 * fail, and how many calls the full bulkhead refused. One observer per kind of dependency.
 */
export function createDependencyMetrics(metrics: Metrics): (kind: DependencyKind) => DependencyObserver {
  const watched = new Map<string, { dependency: string; kind: DependencyKind; policy: Pick<DependencyPolicy, 'state' | 'load'> }>();
  new Gauge({
    name: 'scalemart_dependency_circuit_state',
    help: 'Circuit breaker of a dependency: 0 closed, 1 half-open (the next call is the trial), 2 open',
    labelNames: ['dependency', 'kind'] as const,
    registers: [metrics.registry],
    collect() {
      for (const { dependency, kind, policy } of watched.values()) this.set({ dependency, kind }, STATE_VALUE[policy.state()]);
    },
  });
  new Gauge({
    name: 'scalemart_dependency_calls_in_flight',
    help: 'Calls to a dependency inside its bulkhead: running (holding a slot, retries and backoff included) or queued for one',
    labelNames: ['dependency', 'kind', 'state'] as const,
    registers: [metrics.registry],
    collect() {
      for (const { dependency, kind, policy } of watched.values()) {
        const { running, queued } = policy.load();
        this.set({ dependency, kind, state: 'running' }, running);
        this.set({ dependency, kind, state: 'queued' }, queued);
      }
    },
  });
  const shed = new Counter({
    name: 'scalemart_dependency_bulkhead_rejections_total',
    help: 'Calls to a dependency refused at once because its bulkhead was full',
    labelNames: ['dependency', 'kind'] as const,
    registers: [metrics.registry],
  });
  const refusals = new Histogram({
    name: 'scalemart_dependency_circuit_rejection_seconds',
    help: 'Time a call refused by the circuit took to fail, by the state it found: open (at once) or half-open (after the trial in flight failed)',
    labelNames: ['dependency', 'kind', 'state'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [metrics.registry],
  });
  return (kind) => ({
    watch: (dependency, policy) => void watched.set(`${kind} ${dependency}`, { dependency, kind, policy }),
    refused: (dependency, seconds, state) => refusals.observe({ dependency, kind, state }, seconds),
    shed: (dependency) => shed.inc({ dependency, kind }),
  });
}
