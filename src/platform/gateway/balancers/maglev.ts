import type { Balanced, Balancer } from './balancer.ts';
import { hash32 } from './hash.ts';

/** Envoy's default table size: a prime, so every skip visits every slot. */
export const MAGLEV_TABLE_SIZE = 65_537;

/**
 * Fills a Maglev lookup table (Eisenbud et al., NSDI 2016, §3.4): each instance walks its own
 * permutation of the slots (offset and skip from two hashes of its id) and the instances take
 * turns claiming their next free slot. Every instance owns M/N slots ± 1, and adding or removing
 * one moves about 1/N of the slots.
 */
export function buildMaglevTable(ids: readonly string[], size = MAGLEV_TABLE_SIZE): Int32Array {
  const table = new Int32Array(size).fill(-1);
  const n = ids.length;
  if (n === 0) return table;
  const offset = ids.map((id) => hash32(id, 0x9747b28c) % size);
  const skip = ids.map((id) => (hash32(id, 0x1b873593) % (size - 1)) + 1);
  const next = new Array<number>(n).fill(0);
  for (let filled = 0; ; ) {
    for (let i = 0; i < n; i++) {
      let slot = (offset[i]! + next[i]! * skip[i]!) % size;
      while (table[slot]! >= 0) {
        next[i]!++;
        slot = (offset[i]! + next[i]! * skip[i]!) % size;
      }
      table[slot] = i;
      next[i]!++;
      if (++filled === size) return table;
    }
  }
}

/**
 * Consistent hashing with Maglev rather than a ring hash. Why: Maglev spreads keys evenly (each
 * instance owns M/N slots ± 1, where a ring of 100 virtual nodes per host is off by ±10 %), a
 * lookup is one hash and one array read (a ring is a binary search), and its disruption when an
 * instance joins or leaves stays close to the minimal 1/N. What it gives up: weights (ring hash
 * takes them by giving a host more points; Maglev only by repeating it in the table) and a
 * 65 537-slot rebuild (about a millisecond) whenever the eligible set changes, which happens on
 * health changes, not per request. Slow start does not apply: affinity is the point.
 *
 * With no key (none configured, or the header absent) the pick falls back to a random instance.
 * A retry (`exclude`) walks on to the next slot owned by another instance.
 */
export function createMaglev<E extends Balanced>(random: () => number = Math.random, size = MAGLEV_TABLE_SIZE): Balancer<E> {
  let built: readonly E[] | undefined;
  let table: Int32Array = new Int32Array(0);
  return {
    name: 'hash',
    pick(candidates, key, exclude) {
      const n = candidates.length;
      if (n === 0) return undefined;
      if (candidates !== built) {
        table = buildMaglevTable(candidates.map((c) => c.id), size);
        built = candidates;
      }
      let slot = key === undefined ? Math.floor(random() * size) : hash32(key) % size;
      for (let steps = 0; steps < size; steps++) {
        const instance = candidates[table[slot]!]!;
        if (instance !== exclude) return instance;
        slot = (slot + 1) % size;
      }
      return undefined;
    },
  };
}
