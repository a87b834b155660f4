import { jumpHash, keyHash64 } from '../../src/platform/db/sharding/jump-hash.ts';
import { createRandom, DEFAULT_SEED } from '../workload/zipf.ts';

/** The bars of the data-tier scenario's hash figures (issue "Data tier at scale"). */
export const BALANCE_BAR = 1.05; // max/mean keys per shard, at 16 shards
export const MOVEMENT_BAR = 0.1; // |moved − 1/(n+1)| / (1/(n+1)) when one shard is appended

export type KeyStyle = 'order' | 'sku';

/**
 * Deterministic keys shaped like production ones: `order:<uuid-like>` (random hex from a seeded
 * PRNG) or `SKU-0000001` (sequential, the adversarial case for a weak hash).
 */
export function generateKeys(count: number, style: KeyStyle = 'order', seed: number = DEFAULT_SEED): string[] {
  if (style === 'sku') return Array.from({ length: count }, (_, i) => `SKU-${String(i + 1).padStart(7, '0')}`);
  const random = createRandom(seed);
  // 32 random bits per draw: one draw per 8 hex digits keeps a million keys fast to build.
  const word = (): string => Math.floor(random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  return Array.from({ length: count }, () => {
    const a = word();
    const b = word();
    const c = word();
    const d = word();
    return `order:${a}-${b.slice(0, 4)}-4${b.slice(5)}-${c.slice(0, 4)}-${c.slice(4)}${d}`;
  });
}

/** Keys hashed once, so every shard count is measured on the same bits without re-hashing. */
export interface HashedKeys {
  readonly hi: Uint32Array;
  readonly lo: Uint32Array;
}

export function hashKeys(keys: readonly string[]): HashedKeys {
  const hi = new Uint32Array(keys.length);
  const lo = new Uint32Array(keys.length);
  keys.forEach((key, i) => {
    const h = keyHash64(key);
    hi[i] = h.hi;
    lo[i] = h.lo;
  });
  return { hi, lo };
}

/** The bucket of every key over `shards` shards: what createHashStrategy answers, by index. */
export function assignBuckets(hashed: HashedKeys, shards: number): Uint32Array {
  const out = new Uint32Array(hashed.hi.length);
  for (let i = 0; i < out.length; i++) out[i] = jumpHash(hashed.hi[i] as number, hashed.lo[i] as number, shards);
  return out;
}

export interface BalanceFigure {
  readonly shards: number;
  readonly keys: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  /** The most loaded shard over the average: 1.00 is perfect balance. */
  readonly maxOverMean: number;
}

export function measureBalance(hashed: HashedKeys, shards: number): BalanceFigure {
  const counts = new Array<number>(shards).fill(0);
  for (const bucket of assignBuckets(hashed, shards)) counts[bucket] = (counts[bucket] as number) + 1;
  const keys = hashed.hi.length;
  const mean = keys / shards;
  const max = Math.max(...counts);
  return { shards, keys, min: Math.min(...counts), max, mean, maxOverMean: max / mean };
}

export interface MovementFigure {
  /** Shards before one is appended. */
  readonly shards: number;
  readonly keys: number;
  readonly moved: number;
  readonly fraction: number;
  /** 1/(n+1): the new shard's fair share, the least any scheme can move. */
  readonly ideal: number;
  /** |fraction − ideal| / ideal. */
  readonly relativeError: number;
  /** Keys that moved somewhere other than the new shard; 0 for jump hash. */
  readonly strayMoves: number;
}

export function measureMovement(hashed: HashedKeys, shards: number): MovementFigure {
  const before = assignBuckets(hashed, shards);
  const after = assignBuckets(hashed, shards + 1);
  let moved = 0;
  let strayMoves = 0;
  for (let i = 0; i < before.length; i++) {
    if (before[i] === after[i]) continue;
    moved++;
    if (after[i] !== shards) strayMoves++;
  }
  const keys = before.length;
  const fraction = moved / keys;
  const ideal = 1 / (shards + 1);
  return { shards, keys, moved, fraction, ideal, relativeError: Math.abs(fraction - ideal) / ideal, strayMoves };
}

export interface HashBalanceOptions {
  /** Default 1 000 000. */
  readonly keyCount?: number;
  /** Default [4, 8, 16]. */
  readonly shardCounts?: readonly number[];
  readonly style?: KeyStyle;
  readonly seed?: number;
}

export interface HashBalanceResult {
  readonly balance: readonly BalanceFigure[];
  readonly movement: readonly MovementFigure[];
  /** Balance ≤ BALANCE_BAR at the largest shard count, and every movement within MOVEMENT_BAR with no stray move. */
  readonly pass: boolean;
}

export function runHashBalance(options: HashBalanceOptions = {}): HashBalanceResult {
  const shardCounts = options.shardCounts ?? [4, 8, 16];
  const hashed = hashKeys(generateKeys(options.keyCount ?? 1_000_000, options.style, options.seed));
  const balance = shardCounts.map((n) => measureBalance(hashed, n));
  const movement = shardCounts.map((n) => measureMovement(hashed, n));
  const widest = balance.reduce((a, b) => (b.shards > a.shards ? b : a));
  const pass =
    widest.maxOverMean <= BALANCE_BAR && movement.every((m) => m.relativeError <= MOVEMENT_BAR && m.strayMoves === 0);
  return { balance, movement, pass };
}
