import { Gauge, Histogram } from 'prom-client';
import type { CircuitStateName, DependencyObserver } from '../resilience/policy.ts';
import type { Metrics } from './metrics.ts';

const STATE_VALUE: Record<CircuitStateName, number> = { closed: 0, 'half-open': 1, open: 2 };

/**
 * The circuit of each outside dependency (0 closed, 1 half-open, 2 open), read at scrape time,
 * and how long the calls an open circuit refused took to fail.
 */
export function createDependencyMetrics(metrics: Metrics): DependencyObserver {
  const circuits = new Map<string, () => CircuitStateName>();
  new Gauge({
    name: 'scalemart_dependency_circuit_state',
    help: 'Circuit breaker of an outside dependency: 0 closed, 1 half-open (the next call is the trial), 2 open',
    labelNames: ['dependency'] as const,
    registers: [metrics.registry],
    collect() {
      for (const [dependency, state] of circuits) this.set({ dependency }, STATE_VALUE[state()]);
    },
  });
  const refusals = new Histogram({
    name: 'scalemart_dependency_circuit_rejection_seconds',
    help: 'Time a call made while the circuit was open took to fail (failing fast)',
    labelNames: ['dependency'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [metrics.registry],
  });
  return {
    watch: (name, state) => void circuits.set(name, state),
    refused: (name, seconds) => refusals.observe({ dependency: name }, seconds),
  };
}
