import { readFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EdgeOptions, StartedEdge } from '../infra/edge.ts';
import type { FleetRole, PlannedProcess } from './plan.ts';

/** `<dir>/plan.json`: what `fleet up` asks the supervisor to run (holds the secrets: mode 0600). */
export interface FleetPlan {
  version: 1;
  processes: PlannedProcess[];
  /** The node binary every process runs on: the one running `fleet up`. */
  node: string;
  /** The project root, the processes' working directory. */
  cwd: string;
  publicUrl: string;
  /** The nginx edge `up` started, for the supervisor to start again should it die. */
  edge?: EdgeOptions | undefined;
  stopTimeoutMs: number;
  backoff: BackoffOptions;
}

/** Restart delays: base × 2^(crashes in a row − 1), at most `maxMs`; a process up `resetAfterMs` starts afresh. */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000, resetAfterMs: 30_000 };

export function backoffMs(crashesInARow: number, options: BackoffOptions): number {
  return Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, crashesInARow - 1));
}

export type ProcessState = 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped';

export interface ProcessRecord {
  name: string;
  role: FleetRole;
  group: string;
  port: number;
  /** The current process's pid; the last one once stopped. */
  pid: number | null;
  state: ProcessState;
  /** Restarts after a crash, since `up`. */
  restarts: number;
  lastExit?: { code: number | null; signal: string | null; at: string } | undefined;
  log: string;
}

/** `<dir>/state.json`: written by the supervisor on every change, read by `status` and `down`. */
export interface FleetState {
  version: 1;
  supervisorPid: number;
  publicUrl: string;
  edge?: StartedEdge | undefined;
  /** Times the supervisor started the edge again after it died. */
  edgeRestarts?: number | undefined;
  processes: ProcessRecord[];
  updatedAt: string;
}

export const fleetPaths = (dir: string) => ({
  plan: join(dir, 'plan.json'),
  state: join(dir, 'state.json'),
  logs: join(dir, 'logs'),
  data: join(dir, 'data'),
  edge: join(dir, 'edge'),
  /** The gateways' routes file when the topology has service groups (a pool per group). */
  routes: join(dir, 'gateway-routes.json'),
  supervisorLog: join(dir, 'logs', 'supervisor.log'),
});

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Through a temporary file, so a reader never sees half a file. */
export async function writeJson(file: string, value: unknown, mode = 0o644): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode });
  await rename(tmp, file);
}

export const readPlan = (dir: string) => readJson<FleetPlan>(fleetPaths(dir).plan);
export const readState = (dir: string) => readJson<FleetState>(fleetPaths(dir).state);

/**
 * Whether a pid is alive: signal 0 checks without signalling (EPERM still means it exists), and a
 * zombie (exited, not yet reaped by whoever inherited it) counts as gone.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; comm may hold spaces and parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function commandLine(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` still is the process we recorded: pids are reused, and signalling whatever holds
 * the number now would be far worse than leaving a stray process. A fleet process runs the CLI on
 * its port; the supervisor runs `fleet supervise` on its directory.
 */
export async function isOurs(pid: number, marks: readonly string[]): Promise<boolean> {
  const cmd = await commandLine(pid);
  return cmd !== undefined && marks.every((m) => cmd.includes(m));
}

export const processMarks = (p: Pick<ProcessRecord, 'port'>) => ['cli.ts', 'start', `--port ${p.port}`];
export const supervisorMarks = (dir: string) => ['cli.ts', 'fleet', 'supervise', dir];
