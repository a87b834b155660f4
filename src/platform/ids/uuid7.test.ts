import { describe, expect, it } from 'vitest';
import { uuid7 } from './uuid7.ts';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuid7', () => {
  it('makes distinct version-7 UUIDs that sort in the order they were made, within a millisecond too', () => {
    const ids = Array.from({ length: 20_000 }, uuid7);
    for (const id of ids) expect(id).toMatch(V7);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('carries the current time in its first 48 bits', () => {
    const before = Date.now();
    const id = uuid7();
    const msecs = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(msecs).toBeGreaterThanOrEqual(before);
    expect(msecs).toBeLessThanOrEqual(Date.now() + 1);
  });

  it('draws fresh random bits for every id, across refills of its pool', () => {
    // The last 62 bits are random: 600 ids (more than two pools of 256) never repeat them.
    const tails = new Set(Array.from({ length: 600 }, () => uuid7().slice(-12)));
    expect(tails.size).toBe(600);
  });
});
