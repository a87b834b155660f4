import type { Balanced, Balancer } from './balancer.ts';

/**
 * Least request with the power of two random choices, as Envoy: draw two distinct instances and
 * take the one with fewer requests in flight per unit of weight (weight × slow-start ramp). Two
 * draws avoid the herd a global minimum causes when many gateways see the same stale counts,
 * and cost O(1) whatever the pool size.
 */
export function createLeastRequest<E extends Balanced>(random: () => number = Math.random): Balancer<E> {
  const score = (e: E) => (e.inFlight + 1) / (e.weight * e.ramp);
  return {
    name: 'least-request',
    pick(candidates, _key, exclude) {
      const n = candidates.length;
      if (n === 0) return undefined;
      if (n === 1) return candidates[0] === exclude ? undefined : candidates[0];
      if (n === 2 && exclude !== undefined) return candidates[0] === exclude ? candidates[1] : candidates[0];
      let a = candidates[Math.floor(random() * n)]!;
      while (a === exclude) a = candidates[Math.floor(random() * n)]!;
      let b = candidates[Math.floor(random() * n)]!;
      while (b === a || b === exclude) b = candidates[Math.floor(random() * n)]!;
      return score(b) < score(a) ? b : a;
    },
  };
}
