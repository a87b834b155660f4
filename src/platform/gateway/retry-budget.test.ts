import { describe, expect, it } from 'vitest';
import { createRetryBudget } from './retry-budget.ts';

function budgetAt(options: { percent: number; minPerSecond: number }) {
  const clock = { ms: 1_000_000 };
  const budget = createRetryBudget({ ...options, windowMs: 10_000, now: () => clock.ms });
  const withdrawals = (n: number) => Array.from({ length: n }, () => budget.tryWithdraw()).filter(Boolean).length;
  return { budget, clock, withdrawals };
}

describe('the retry budget', () => {
  it('grants its reserve, minPerSecond for each second of the window, before any request', () => {
    const { withdrawals } = budgetAt({ percent: 20, minPerSecond: 10 });
    expect(withdrawals(150)).toBe(100);
    expect(withdrawals(1)).toBe(0);
  });

  it('adds percent of the requests of the window to it, so a burst of resets after steady traffic is all retried', () => {
    const { budget, clock, withdrawals } = budgetAt({ percent: 20, minPerSecond: 0 });
    // 200 req/s for 5 s, in 10 ms steps of 2.
    for (let t = 0; t < 500; t++) {
      budget.deposit();
      budget.deposit();
      clock.ms += 10;
    }
    expect(withdrawals(20)).toBe(20);
    expect(withdrawals(1_000)).toBe(200 - 20);
  });

  it('holds retries to percent of the requests plus the reserve while every request fails, window after window', () => {
    const { budget, clock } = budgetAt({ percent: 20, minPerSecond: 10 });
    let retries = 0;
    // 100 req/s for 60 s, each asking for a retry.
    for (let t = 0; t < 6_000; t++) {
      budget.deposit();
      if (budget.tryWithdraw()) retries++;
      clock.ms += 10;
    }
    // Over 60 s: 20 % of 6 000 requests, plus a reserve of 100 per 10 s that refills as retries leave the window.
    expect(retries).toBeGreaterThan(1_200);
    expect(retries).toBeLessThanOrEqual(1_200 + 6 * 100 + 100);
  });

  it('forgets requests and retries once they leave the window', () => {
    const { budget, clock, withdrawals } = budgetAt({ percent: 50, minPerSecond: 1 });
    for (let i = 0; i < 100; i++) budget.deposit();
    expect(withdrawals(100)).toBe(50 + 10);
    clock.ms += 9_000;
    expect(withdrawals(1)).toBe(0);
    clock.ms += 1_000;
    expect(withdrawals(100)).toBe(10);
  });
});
