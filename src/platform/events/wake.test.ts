import { describe, expect, it } from 'vitest';
import { createWaker } from './wake.ts';

const settledWithin = async (promise: Promise<void>, ms: number) =>
  Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

describe('createWaker', () => {
  it('ends a sleep early when woken', async () => {
    const waker = createWaker();
    const sleeping = waker.sleep(10_000);
    waker.wake();
    expect(await settledWithin(sleeping, 500)).toBe(true);
  });

  it('skips the sleep when a wake came after seen() was read, before the sleep began', async () => {
    const waker = createWaker();
    const seen = waker.seen();
    waker.wake();
    expect(await settledWithin(waker.sleep(10_000, seen), 500)).toBe(true);
  });

  it('sleeps its full interval when no wake came since seen()', async () => {
    const waker = createWaker();
    waker.wake();
    const seen = waker.seen();
    const started = performance.now();
    await waker.sleep(80, seen);
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
  });
});
