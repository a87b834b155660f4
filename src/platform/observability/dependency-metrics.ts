import { Gauge, Histogram } from 'prom-client';
import type { CircuitStateName, DependencyObserver } from '../resilience/policy.ts';
import type { Metrics } from './metrics.ts';

const STATE_VALUE: Record<CircuitStateName, number> = { closed: 0, 'half-open': 1, open: 2 };

/** An outside system (payment provider, carrier…) or another Scalemart service (its contract's client). */
export type DependencyKind = 'provider' | 'service';

/**
 * The circuit of each dependency (0 closed, 1 half-open, 2 open), read at scrape time, and how
 * long the calls an open circuit refused took to fail; one observer per kind of dependency.
 */
export function createDependencyMetrics(metrics: Metrics): (kind: DependencyKind) => DependencyObserver {
  const circuits = new Map<string, { dependency: string; kind: DependencyKind; state: () => CircuitStateName }>();
  new Gauge({
    name: 'scalemart_dependency_circuit_state',
    help: 'Circuit breaker of a dependency: 0 closed, 1 half-open (the next call is the trial), 2 open',
    labelNames: ['dependency', 'kind'] as const,
    registers: [metrics.registry],
    collect() {
      for (const { dependency, kind, state } of circuits.values()) this.set({ dependency, kind }, STATE_VALUE[state()]);
    },
  });
  const refusals = new Histogram({
    name: 'scalemart_dependency_circuit_rejection_seconds',
    help: 'Time a call refused by the circuit took to fail, by the state it found: open (at once) or half-open (after the trial in flight failed)',
    labelNames: ['dependency', 'kind', 'state'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [metrics.registry],
  });
  return (kind) => ({
    watch: (dependency, state) => void circuits.set(`${kind} ${dependency}`, { dependency, kind, state }),
    refused: (dependency, seconds, state) => refusals.observe({ dependency, kind, state }, seconds),
  });
}
