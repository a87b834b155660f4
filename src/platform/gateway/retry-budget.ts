/**
 * Finagle's retry budget (the one Linkerd adopted): over any `windowMs`, retries may be at most
 * `percent` of the requests plus a reserve of `minPerSecond` for each second of the window. A
 * budget, not a count per request, is what keeps retries from multiplying the load on a fleet that
 * is already failing: then at most `percent` more tries reach it.
 *
 * Counted over time rather than over the requests in flight at the moment (Envoy's budget, which
 * this replaced): an instance that dies resets everything it had in flight at once, and on a
 * loaded machine that was 20 requests at 200 req/s, all of which deserve their retry. A budget of
 * concurrent retries refused half of them; the window has long since banked enough for them.
 */
export interface RetryBudget {
  /** A request was sent (its first try): it earns `percent` of a retry. */
  deposit(): void;
  /** Takes one retry from the budget; false, and nothing taken, when it has none left. */
  tryWithdraw(): boolean;
}

export interface RetryBudgetOptions {
  percent: number;
  minPerSecond: number;
  windowMs?: number;
  now?: () => number;
}

/** The window is kept in this many slices; a slice's counts leave the window whole. */
const SLICES = 10;

export function createRetryBudget(options: RetryBudgetOptions = { percent: 20, minPerSecond: 10 }): RetryBudget {
  const { percent, minPerSecond, windowMs = 10_000, now = () => performance.now() } = options;
  const sliceMs = windowMs / SLICES;
  // In hundredths of a retry: a request earns `percent`, a retry costs 100.
  const reserve = minPerSecond * (windowMs / 1000) * 100;
  const slices = new Array<number>(SLICES).fill(0);
  let sum = 0;
  let current = Math.floor(now() / sliceMs);

  /** Drops the slices that have left the window and returns the index of the current one. */
  function advance(): number {
    const slice = Math.floor(now() / sliceMs);
    const passed = Math.min(slice - current, SLICES);
    for (let k = 1; k <= passed; k++) {
      const i = (current + k) % SLICES;
      sum -= slices[i]!;
      slices[i] = 0;
    }
    if (passed > 0) current = slice;
    return current % SLICES;
  }

  return {
    deposit() {
      const i = advance();
      slices[i]! += percent;
      sum += percent;
    },
    tryWithdraw() {
      const i = advance();
      if (reserve + sum < 100) return false;
      slices[i]! -= 100;
      sum -= 100;
      return true;
    },
  };
}
