import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LAB_DIR } from '../paths.ts';
import type { ManagedProcess } from '../processes.ts';

/** Node arguments that preload lab/probes/gc-probe.ts; start the process with `{ ipc: true }`. */
export const GC_PROBE_ARGS: readonly string[] = ['--import', pathToFileURL(path.join(LAB_DIR, 'probes', 'gc-probe.ts')).href];

export interface GcTotals {
  /** Milliseconds the main thread spent paused in GC since the process started. */
  pauseMs: number;
  collections: number;
}

/** Asks a process started with the probe for its GC totals so far. */
export function readGc(target: ManagedProcess, timeoutMs = 5_000): Promise<GcTotals> {
  const child = target.child;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`${target.name}: no GC totals within ${timeoutMs} ms (started without the probe?)`));
    }, timeoutMs);
    const onMessage = (message: unknown) => {
      if (typeof message !== 'object' || message === null || !('labGc' in message)) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message.labGc as GcTotals);
    };
    if (!child.connected) {
      clearTimeout(timer);
      reject(new Error(`${target.name}: has no IPC channel (start it with { ipc: true })`));
      return;
    }
    child.on('message', onMessage);
    child.send('lab:gc');
  });
}
