import { describe, expect, it } from 'vitest';
import { backoffMs, DEFAULT_BACKOFF } from './state.ts';

describe('restart backoff', () => {
  it('doubles per crash in a row from 500 ms and stops at 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => backoffMs(n, DEFAULT_BACKOFF))).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });
});
