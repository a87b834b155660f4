import { describe, expect, it } from 'vitest';
import { jumpHash, keyHash64 } from './jump-hash.ts';

function split(key: bigint): [number, number] {
  return [Number(key >> 32n), Number(key & 0xffffffffn)];
}

describe('jumpHash', () => {
  // Vectors published with the reference implementations (Go, Python, C ports of the paper).
  const vectors: [bigint, number, number][] = [
    [1n, 1, 0],
    [42n, 57, 43],
    [0xdead10ccn, 1, 0],
    [0xdead10ccn, 666, 361],
    [256n, 1024, 520],
    [1n, 128, 55],
    [129n, 128, 120],
    [0xffffffffffffffffn, 128, 92],
    [128n, 100_000_000, 38_172_097],
  ];
  it.each(vectors)('key %s over %i buckets is bucket %i', (key, buckets, expected) => {
    const [hi, lo] = split(key);
    expect(jumpHash(hi, lo, buckets)).toBe(expected);
  });

  it('rejects a bucket count below one', () => {
    expect(() => jumpHash(0, 1, 0)).toThrow(RangeError);
  });
});

describe('keyHash64', () => {
  it('is the first 8 bytes of SHA-256 over UTF-8, as PostgreSQL sha256() computes it', () => {
    // sha256("abc") = ba7816bf 8f01cfea …
    expect(keyHash64('abc')).toEqual({ hi: 0xba7816bf, lo: 0x8f01cfea });
  });
});
