import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { scatterGather } from './scatter-gather.ts';

interface Row {
  readonly id: string;
  readonly at: number;
}

const byAt = (a: Row, b: Row): number => a.at - b.at;

/** Fake shards: rows per shard, answered on the next tick. */
const data: Record<string, Row[]> = {
  s0: [{ id: 'a', at: 5 }, { id: 'b', at: 1 }],
  s1: [{ id: 'c', at: 3 }, { id: 'd', at: 7 }],
  s2: [{ id: 'e', at: 2 }],
};
const healthy = async (shard: string): Promise<Row[]> => data[shard] ?? [];

describe('scatterGather', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('merges every shard’s rows, sorts them and applies the limit', async () => {
    const result = await scatterGather({ shards: ['s0', 's1', 's2'], query: healthy, timeoutMs: 1000, compare: byAt, limit: 4 });
    expect(result.rows.map((r) => r.id)).toEqual(['b', 'e', 'c', 'a']);
    expect(result.partial).toEqual([]);
    expect(result.failures).toEqual([]);
  });

  it('returns every row without a limit', async () => {
    const result = await scatterGather({ shards: ['s0', 's1', 's2'], query: healthy, timeoutMs: 1000, compare: byAt });
    expect(result.rows).toHaveLength(5);
  });

  it('reports a shard that exceeds its timeout as partial, aborts its query, and keeps the others’ rows', async () => {
    let slowSignal: AbortSignal | undefined;
    const query = (shard: string, signal: AbortSignal): Promise<Row[]> => {
      if (shard !== 's1') return healthy(shard);
      slowSignal = signal;
      return new Promise<Row[]>(() => {}); // never answers, ignores the signal: the worst case
    };
    const pending = scatterGather({ shards: ['s0', 's1', 's2'], query, timeoutMs: 200, compare: byAt });
    await vi.advanceTimersByTimeAsync(200);
    const result = await pending;
    expect(result.rows.map((r) => r.id)).toEqual(['b', 'e', 'a']);
    expect(result.partial).toEqual(['s1']);
    expect(result.failures).toEqual([{ shard: 's1', reason: 'timeout' }]);
    expect(slowSignal?.aborted).toBe(true);
  });

  it('reports a failing shard as partial, with the cause, whether it rejects or throws', async () => {
    const boom = new Error('connection refused');
    const query = (shard: string): Promise<Row[]> => {
      if (shard === 's0') return Promise.reject(boom);
      if (shard === 's2') throw new Error('sync throw');
      return healthy(shard);
    };
    const result = await scatterGather({ shards: ['s0', 's1', 's2'], query, timeoutMs: 1000, compare: byAt });
    expect(result.rows.map((r) => r.id)).toEqual(['c', 'd']);
    expect(result.partial).toEqual(['s0', 's2']);
    expect(result.failures[0]).toEqual({ shard: 's0', reason: 'error', cause: boom });
  });

  it('does not abort a shard that answered in time', async () => {
    const signals: AbortSignal[] = [];
    const query = (shard: string, signal: AbortSignal): Promise<Row[]> => {
      signals.push(signal);
      return healthy(shard);
    };
    await scatterGather({ shards: ['s0', 's1'], query, timeoutMs: 50, compare: byAt });
    await vi.advanceTimersByTimeAsync(100);
    expect(signals.map((s) => s.aborted)).toEqual([false, false]);
  });

  it('stops every shard when the caller’s signal aborts', async () => {
    const caller = new AbortController();
    const signals: AbortSignal[] = [];
    const query = (_shard: string, signal: AbortSignal): Promise<Row[]> => {
      signals.push(signal);
      return new Promise<Row[]>(() => {});
    };
    const pending = scatterGather({ shards: ['s0', 's1'], query, timeoutMs: 10_000, compare: byAt, signal: caller.signal });
    caller.abort();
    const result = await pending;
    expect(result.partial).toEqual(['s0', 's1']);
    expect(result.failures.map((f) => f.reason)).toEqual(['aborted', 'aborted']);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it('rejects a non-positive timeout or a bad limit', async () => {
    await expect(scatterGather({ shards: ['s0'], query: healthy, timeoutMs: 0, compare: byAt })).rejects.toThrow(RangeError);
    await expect(scatterGather({ shards: ['s0'], query: healthy, timeoutMs: 10, compare: byAt, limit: -1 })).rejects.toThrow(RangeError);
  });
});
