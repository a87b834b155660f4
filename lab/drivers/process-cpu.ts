import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** CPU time one process has used so far: all its threads, and its main (JavaScript) thread alone. */
export interface CpuSample {
  /** Nanoseconds on a CPU, every live thread together. */
  totalNs: number;
  /** Nanoseconds of the main thread (the one whose id is the process id): JavaScript and GC pauses. */
  mainNs: number;
}

/**
 * Reads each thread's time on a CPU from `/proc/<pid>/task/<tid>/schedstat` (nanoseconds, the
 * scheduler's own accounting), or from `stat`'s utime + stime (clock ticks, 10 ms) where the kernel
 * has no schedstat. Linux only. A thread that ended between two samples drops out of the later one,
 * so the threads measured must outlive the window: Node's (V8 platform workers, libuv pool) do.
 */
export function sampleCpu(pid: number): CpuSample {
  let totalNs = 0;
  let mainNs = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let ns: number;
    try {
      ns = threadNs(pid, tid);
    } catch {
      continue; // the thread ended while we listed them
    }
    totalNs += ns;
    if (tid === String(pid)) mainNs = ns;
  }
  return { totalNs, mainNs };
}

const TICK_NS = 1e9 / 100; // USER_HZ is 100 on every Linux the lab runs on

function threadNs(pid: number, tid: string): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    // The command name may hold spaces and parentheses: fields count from the last ')'.
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the state.
    return (Number(fields[11]) + Number(fields[12])) * TICK_NS;
  }
}

/** The CPU used between two samples, in µs per request. */
export function cpuPerRequest(before: CpuSample, after: CpuSample, requests: number): { totalUs: number; mainUs: number } {
  return { totalUs: (after.totalNs - before.totalNs) / 1000 / requests, mainUs: (after.mainNs - before.mainNs) / 1000 / requests };
}

/** CPU nanoseconds (all threads) so far of each of the given processes that still runs. */
export function snapshotCpu(pids: readonly number[]): Map<number, number> {
  const snapshot = new Map<number, number>();
  for (const pid of pids) {
    try {
      snapshot.set(pid, sampleCpu(pid).totalNs);
    } catch {
      // ended (a restarted instance, a closed database connection), or not on this machine
    }
  }
  return snapshot;
}

/**
 * CPU used since `before` by the processes running now (`pids`, listed again after the run): one
 * that started in between counts whole, since all its time falls in the window; one that ended in
 * between is lost (its last moments), rather than subtracted as a negative.
 */
export function cpuSince(before: ReadonlyMap<number, number>, pids: readonly number[]): number {
  let total = 0;
  for (const ns of cpuByPidSince(before, pids).values()) total += ns;
  return total;
}

/** `cpuSince`, per process. */
export function cpuByPidSince(before: ReadonlyMap<number, number>, pids: readonly number[]): Map<number, number> {
  const used = new Map<number, number>();
  for (const [pid, ns] of snapshotCpu(pids)) used.set(pid, ns - (before.get(pid) ?? 0));
  return used;
}

/**
 * What this process's main (JavaScript) thread did over a window, as shares of its wall time:
 * `busy`, the event loop's utilization (not waiting for I/O or timers: running, or ready to run
 * and waiting for a core); `ran`, on a core; `waited`, ready but queued for a core, from the
 * scheduler's run delay (`schedstat`'s second field). `ran` and `waited` are undefined where the
 * kernel keeps no schedstat.
 */
export interface MainThreadShare {
  busy: number;
  ran: number | undefined;
  waited: number | undefined;
}

function mainThreadSchedstat(): { runNs: number; waitNs: number } | undefined {
  try {
    const [runNs, waitNs] = readFileSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
    return { runNs: runNs!, waitNs: waitNs! };
  } catch {
    return undefined;
  }
}

/** Runs `work` and reports how this process's main thread spent the time it took. */
export async function mainThreadOver<T>(work: () => Promise<T>): Promise<{ result: T; main: MainThreadShare }> {
  const loop0 = performance.eventLoopUtilization();
  const sched0 = mainThreadSchedstat();
  const started = performance.now();
  const result = await work();
  const wallNs = (performance.now() - started) * 1e6;
  const sched1 = mainThreadSchedstat();
  const busy = performance.eventLoopUtilization(loop0).utilization;
  const share = (pick: (s: { runNs: number; waitNs: number }) => number) => (sched0 && sched1 ? (pick(sched1) - pick(sched0)) / wallNs : undefined);
  return { result, main: { busy, ran: share((s) => s.runNs), waited: share((s) => s.waitNs) } };
}
