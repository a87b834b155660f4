import type { Balanced, Balancer, BalancerName } from './balancer.ts';
import { createLeastRequest } from './least-request.ts';
import { createMaglev } from './maglev.ts';
import { createRoundRobin } from './round-robin.ts';
import { createWeightedRoundRobin } from './weighted-round-robin.ts';

export { BALANCER_NAMES, type Balanced, type Balancer, type BalancerName } from './balancer.ts';

/** A fresh balancer of the named strategy (each pool has its own: they keep per-pool state). */
export function createBalancer<E extends Balanced>(name: BalancerName, random: () => number = Math.random): Balancer<E> {
  switch (name) {
    case 'round-robin':
      return createRoundRobin<E>(random);
    case 'least-request':
      return createLeastRequest<E>(random);
    case 'weighted':
      return createWeightedRoundRobin<E>();
    case 'hash':
      return createMaglev<E>(random);
  }
}
