import { describe, expect, it } from 'vitest';
import { aggregate, DeadlineExceededError } from './aggregate.ts';

const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));
const never = () => new Promise<never>(() => {});

describe('aggregate', () => {
  it('runs the parts in parallel and answers with all of them', async () => {
    const started = performance.now();
    const result = await aggregate({ a: () => after(100, 1), b: () => after(100, 'two'), c: async () => [3] }, { deadlineMs: 1_000 });
    expect(result).toEqual({ data: { a: 1, b: 'two', c: [3] }, degraded: [] });
    // One after the other would take 200 ms.
    expect(performance.now() - started).toBeLessThan(190);
  });

  it('leaves out a part that throws, synchronously or not, and names it', async () => {
    const told: string[] = [];
    const result = await aggregate({
      ok: async () => 'fine',
      rejects: () => Promise.reject(new Error('orders down')),
      throws: () => {
        throw new Error('no promise at all');
      },
    }, { deadlineMs: 1_000, onDegraded: (part, reason) => told.push(`${part}:${reason}`) });
    expect(result).toEqual({ data: { ok: 'fine' }, degraded: ['rejects', 'throws'] });
    expect(told).toEqual(['rejects:failed', 'throws:failed']);
  });

  it('answers within the deadline when a part hangs, and aborts its signal', async () => {
    let signal: AbortSignal | undefined;
    const started = performance.now();
    const result = await aggregate({
      fast: () => after(5, 'here'),
      hangs: (s) => ((signal = s), never()),
    }, { deadlineMs: 100 });
    const took = performance.now() - started;
    expect(result).toEqual({ data: { fast: 'here' }, degraded: ['hangs'] });
    expect(took).toBeGreaterThanOrEqual(95);
    expect(took).toBeLessThan(250);
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBeInstanceOf(DeadlineExceededError);
  });

  it('gives a part its own deadline when asked', async () => {
    const result = await aggregate({ quick: () => after(80, 'late'), patient: () => after(80, 'in time') }, { deadlineMs: 200, deadlines: { quick: 20 } });
    expect(result).toEqual({ data: { patient: 'in time' }, degraded: ['quick'] });
  });
});
