import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NODE, REPO_ROOT } from './paths.ts';

const KEEP_OUTPUT = 32 * 1024;
const STOP_GRACE_MS = 5_000;

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** The last 32 KiB of its stdout and stderr, for error messages. */
  output(): string;
  /** Settles with the exit code (or the signal's name) when it ends. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after a grace period; resolves once it is gone. */
  stop(): Promise<void>;
}

/** Every child and temporary directory the lab makes, so none outlives it: removed at the end, on error and on Ctrl-C. */
export interface ProcessGroup {
  /** A fresh directory under the OS temp dir, removed with the group. */
  tempDir(prefix: string): Promise<string>;
  /**
   * Starts the pinned Node with `args`, or `command` when given (a reference such as nginx). With
   * `ipc`, the child also gets Node's IPC channel (`process.send`), e.g. for a preloaded probe.
   */
  start(name: string, args: string[], env?: Record<string, string>, options?: StartOptions): ManagedProcess;
  /** Runs a command to completion within timeoutMs; rejects with its output when it fails. */
  run(name: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<string>;
  /**
   * Something the lab started that is not its child (a detached fleet, a scratch database) and
   * must end with the run: `stop` when the group stops (last adopted first, before the children),
   * `stopNow` from an exit handler, synchronously (e.g. SIGTERM to a recorded pid).
   */
  adopt(name: string, stop: () => Promise<void>, stopNow?: () => void): void;
  stopAll(): Promise<void>;
  /** Kills every child and removes the directories at once, synchronously: all an exit handler can do. */
  killAllNow(): void;
}

export interface StartOptions {
  ipc?: boolean;
  /** The program to run instead of the pinned Node. */
  command?: string;
}

export function createProcessGroup(): ProcessGroup {
  const live = new Set<ManagedProcess>();
  const dirs = new Set<string>();
  const adopted: { name: string; stop: () => Promise<void>; stopNow?: (() => void) | undefined }[] = [];

  function start(name: string, args: string[], env: Record<string, string> = {}, options: StartOptions = {}): ManagedProcess {
    // stdin stays an open pipe: a child of ours that watches it can tell when the lab dies.
    const stdio: ('pipe' | 'ipc')[] = options.ipc ? ['pipe', 'pipe', 'pipe', 'ipc'] : ['pipe', 'pipe', 'pipe'];
    const child = spawn(options.command ?? NODE, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-KEEP_OUTPUT);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<number | string>((resolve) => {
      child.once('error', (error) => resolve(error.message));
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    });
    const managed: ManagedProcess = {
      name,
      child,
      output: () => output,
      exited,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
          await exited;
          clearTimeout(timer);
        }
        live.delete(managed);
      },
    };
    live.add(managed);
    void exited.then(() => live.delete(managed));
    return managed;
  }

  async function run(name: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<string> {
    const managed = start(name, args, env);
    const timer = setTimeout(() => void managed.stop(), timeoutMs);
    const code = await managed.exited;
    clearTimeout(timer);
    if (code !== 0) throw new Error(`${name} (${args.join(' ')}) ended with ${code}:\n${managed.output()}`);
    return managed.output();
  }

  return {
    async tempDir(prefix) {
      const dir = await mkdtemp(path.join(os.tmpdir(), `scalemart-lab-${prefix}-`));
      dirs.add(dir);
      return dir;
    },
    start,
    run,
    adopt(name, stop, stopNow) {
      adopted.push({ name, stop, stopNow });
    },
    async stopAll() {
      // One at a time, last first: a fleet stops before the database it uses is dropped.
      for (const entry of adopted.splice(0).reverse()) {
        try {
          await entry.stop();
        } catch (error) {
          process.stderr.write(`lab: stopping ${entry.name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
        }
      }
      await Promise.all([...live].map((p) => p.stop()));
      await Promise.all([...dirs].map((dir) => rm(dir, { recursive: true, force: true })));
      dirs.clear();
    },
    killAllNow() {
      for (const entry of adopted.splice(0).reverse()) {
        try {
          entry.stopNow?.();
        } catch {
          // already gone
        }
      }
      for (const p of live) p.child.kill('SIGKILL');
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      dirs.clear();
    },
  };
}

/**
 * While `work` runs, Ctrl-C, SIGTERM or an exit kills the group's children before the lab ends;
 * afterwards the handlers are removed, so the host process (the `scalemart` CLI) is left as it was.
 */
export async function withProcessGroup<T>(work: (group: ProcessGroup) => Promise<T>): Promise<T> {
  const group = createProcessGroup();
  const onExit = () => group.killAllNow();
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\nlab: ${signal}, stopping its processes\n`);
    group.killAllNow();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(group);
  } finally {
    await group.stopAll();
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
