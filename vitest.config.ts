import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'lab/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time. Vitest's default on two cores is one, and most of the system suites wait
    // (leases, breakers, restarts, processes starting) far more than they compute: one at a time the
    // suite took 24 min on this machine. Each suite has its own ports, private servers and scratch
    // databases, so two can run side by side.
    maxWorkers: 2,
  },
});
