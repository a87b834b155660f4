import { hash } from 'node:crypto';

/**
 * A key's stable 64-bit hash, as two unsigned 32-bit halves: the first 8 bytes (big-endian) of
 * SHA-256 over the key's UTF-8 bytes. SHA-256 rather than a faster non-cryptographic hash because
 * every language and PostgreSQL itself (`sha256(bytea)`) compute it identically, so a migration or
 * backfill can place rows in SQL with the same answer as the router; it costs well under a
 * microsecond per key through `crypto.hash`, small next to the query it routes.
 */
export interface Hash64 {
  readonly hi: number;
  readonly lo: number;
}

export function keyHash64(key: string): Hash64 {
  const digest = hash('sha256', key, 'buffer');
  return { hi: digest.readUInt32BE(0), lo: digest.readUInt32BE(4) };
}

// Lamping & Veach's LCG multiplier 2862933555777941757 = 0x27BB2EE6_87B0B0FD, split for 32-bit maths.
const MUL_HI = 0x27bb2ee6;
const MUL_LO = 0x87b0b0fd;
const TWO_POW_31 = 2 ** 31;

/**
 * Jump consistent hash (Lamping & Veach, 2014): the bucket in [0, buckets) of a 64-bit key.
 * Growing `buckets` from n to n+1 moves only the ~1/(n+1) of keys that land in the new bucket,
 * and needs no ring or virtual nodes. The 64-bit LCG step runs on 16-bit limbs so the hot path
 * avoids BigInt; the result is bit-for-bit the published algorithm (checked against its vectors).
 */
export function jumpHash(hi: number, lo: number, buckets: number): number {
  if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`jumpHash: buckets must be a positive integer, got ${buckets}`);
  let kh = hi >>> 0;
  let kl = lo >>> 0;
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    // key = key * MUL + 1 (mod 2^64)
    const l0 = kl & 0xffff;
    const l1 = kl >>> 16;
    const m0 = MUL_LO & 0xffff;
    const m1 = MUL_LO >>> 16;
    // Full 64-bit product of the low halves, from 16-bit partial products (each < 2^32, exact in a double).
    const p00 = l0 * m0;
    const mid = l1 * m0 + l0 * m1 + Math.floor(p00 / 0x10000); // < 2^34, exact
    const low = ((mid & 0xffff) * 0x10000 + (p00 & 0xffff)) >>> 0;
    const carry = l1 * m1 + Math.floor(mid / 0x10000); // high 32 bits of kl * MUL_LO (< 2^32)
    let high = (carry + Math.imul(kh, MUL_LO) + Math.imul(kl, MUL_HI)) >>> 0;
    let newLow = low + 1;
    if (newLow > 0xffffffff) {
      newLow = 0;
      high = (high + 1) >>> 0;
    }
    kh = high;
    kl = newLow >>> 0;
    // j = (b + 1) * (2^31 / ((key >>> 33) + 1)), in doubles as in the paper.
    j = Math.floor((b + 1) * (TWO_POW_31 / ((kh >>> 1) + 1)));
  }
  return b;
}
