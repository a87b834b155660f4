import { admits, type Balanced, type Balancer } from './balancer.ts';

/**
 * Plain rotation over the eligible instances. A slow-starting instance is skipped with
 * probability 1 − ramp, so it takes a growing share while it warms up.
 */
export function createRoundRobin<E extends Balanced>(random: () => number = Math.random): Balancer<E> {
  let next = 0;
  return {
    name: 'round-robin',
    pick(candidates, _key, exclude) {
      const n = candidates.length;
      for (let tries = 0; tries < n; tries++) {
        const instance = candidates[next++ % n]!;
        if (next >= 0x3fffffff) next = 0;
        if (instance === exclude) continue;
        if (admits(instance, random) || tries === n - 1) return instance;
      }
      return undefined;
    },
  };
}
