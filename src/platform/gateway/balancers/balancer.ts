/**
 * What a balancer sees of an upstream instance. `weight` is the configured weight; `ramp` is the
 * slow-start factor in (0, 1] (1 once an instance has fully returned); `inFlight` its open requests.
 */
export interface Balanced {
  readonly id: string;
  readonly weight: number;
  ramp: number;
  inFlight: number;
}

/**
 * Picks one of `candidates` (the pool's eligible instances: the same array until eligibility
 * changes, so a balancer may cache per array). `key` is the hash key (consistent hashing only);
 * `exclude` is the instance a retry must avoid. Undefined when nothing is left to pick.
 */
export interface Balancer<E extends Balanced = Balanced> {
  readonly name: BalancerName;
  pick(candidates: readonly E[], key: string | undefined, exclude: E | undefined): E | undefined;
}

export const BALANCER_NAMES = ['round-robin', 'least-request', 'weighted', 'hash'] as const;
export type BalancerName = (typeof BALANCER_NAMES)[number];

/** Passes the ramp of a slow-starting instance as a probability: it gets `ramp` of its share. */
export function admits(instance: Balanced, random: () => number): boolean {
  return instance.ramp >= 1 || random() < instance.ramp;
}
