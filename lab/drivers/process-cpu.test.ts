import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mainThreadOver } from './process-cpu.ts';

const SCHEDSTAT = existsSync(`/proc/${process.pid}/task/${process.pid}/schedstat`);

describe('mainThreadOver', () => {
  it('sees a main thread that computes for the whole window as busy, on a core or queued for one', async () => {
    const { result, main } = await mainThreadOver(async () => {
      const until = performance.now() + 200;
      let spins = 0;
      while (performance.now() < until) spins++;
      return spins;
    });
    expect(result).toBeGreaterThan(0);
    expect(main.busy).toBeGreaterThan(0.9);
    if (SCHEDSTAT) expect(main.ran! + main.waited!).toBeGreaterThan(0.8);
  });

  it('sees a main thread that waits on a timer as idle', async () => {
    const { main } = await mainThreadOver(() => new Promise((resolve) => setTimeout(resolve, 200)));
    expect(main.busy).toBeLessThan(0.2);
    if (SCHEDSTAT) expect(main.ran!).toBeLessThan(0.2);
  });
});
