/**
 * A sleep that ends early when woken: consumers and the relay wait on it between polls, and a
 * publish or a stop wakes them at once instead of after the poll interval.
 */
export function createWaker() {
  let wakers = new Set<() => void>();
  return {
    sleep(ms: number): Promise<void> {
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
      const current = wakers;
      wakers = new Set();
      for (const done of current) done();
    },
  };
}
