import type { Balanced, Balancer } from './balancer.ts';

/**
 * Smooth weighted round-robin, nginx's algorithm (ngx_http_upstream_get_peer): every pick adds
 * each instance's effective weight to its current weight, takes the largest, and subtracts the
 * total from the winner. Weights 5:1:1 give a a b a c a a rather than a a a a a b c. The effective
 * weight is weight × slow-start ramp; current weights live per balancer, keyed by instance.
 */
export function createWeightedRoundRobin<E extends Balanced>(): Balancer<E> {
  const current = new Map<E, number>();
  return {
    name: 'weighted',
    pick(candidates, _key, exclude) {
      let best: E | undefined;
      let bestCurrent = -Infinity;
      let total = 0;
      for (let i = 0; i < candidates.length; i++) {
        const e = candidates[i]!;
        if (e === exclude) continue;
        const effective = e.weight * e.ramp;
        const value = (current.get(e) ?? 0) + effective;
        current.set(e, value);
        total += effective;
        if (value > bestCurrent) {
          bestCurrent = value;
          best = e;
        }
      }
      if (best) current.set(best, bestCurrent - total);
      // An instance that left the pool (ejected, removed) starts from zero when it returns.
      if (current.size > candidates.length * 2) for (const e of current.keys()) if (!candidates.includes(e)) current.delete(e);
      return best;
    },
  };
}
