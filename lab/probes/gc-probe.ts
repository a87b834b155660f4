import { PerformanceObserver } from 'node:perf_hooks';

/**
 * Preloaded into every process the hot-read scenario measures (`node --import`): counts the time
 * the main thread spent in GC pauses and answers the lab's `lab:gc` message over the IPC channel
 * with the totals so far. V8's concurrent and parallel GC work on its helper threads is not a
 * pause; the lab sees it as CPU time of the process's other threads. The same probe runs in
 * Scalemart and in the reference, so its own cost (a callback per GC) falls on both.
 */
let pauseMs = 0;
let collections = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    pauseMs += entry.duration;
    collections++;
  }
}).observe({ entryTypes: ['gc'] });

process.on('message', (message) => {
  if (message === 'lab:gc') process.send?.({ labGc: { pauseMs, collections } });
});
// The channel must not keep the process alive: it ends as it would without the lab.
process.channel?.unref();
