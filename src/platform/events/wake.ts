/**
 * A sleep that ends early when woken: consumers and the relay wait on it between polls, and a
 * publish or a stop wakes them at once instead of after the poll interval.
 *
 * A wake that comes while the waiter is still working, before it sleeps, is not lost: the waiter
 * reads `seen()` before its work and passes it to `sleep`, which then returns at once if a wake
 * came since. Without it, a relay whose pass had just found the outbox empty missed the nudge of
 * the commit that followed, and that event waited a whole idle interval (500 ms scaled, 10 s
 * embedded) for the next poll.
 */
export function createWaker() {
  let wakers = new Set<() => void>();
  let wakes = 0;
  return {
    /** How many wakes so far: pass it to `sleep` to skip the sleep if another came since. */
    seen(): number {
      return wakes;
    },
    sleep(ms: number, since?: number): Promise<void> {
      if (since !== undefined && since !== wakes) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wakers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        wakers.add(done);
      });
    },
    wake(): void {
      wakes++;
      const current = wakers;
      wakers = new Set();
      for (const done of current) done();
    },
  };
}
