import { execFile } from 'node:child_process';

/** Who a PostgreSQL process runs as: PostgreSQL refuses to run as root, so root hands it to `postgres`. */
export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

export interface RunOptions {
  as?: RunAs | undefined;
  cwd?: string | undefined;
  /** Milliseconds before the child is killed; commands here wait on servers, so the default is generous. */
  timeoutMs?: number | undefined;
}

export class CommandError extends Error {
  readonly code = 'INFRA_COMMAND_FAILED';
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(message: string, exitCode: number | null, stderr: string, cause?: unknown) {
    super(message, { cause });
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** Runs a program to completion and returns its stdout; a non-zero exit throws a `CommandError` carrying stderr. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 16 * 1024 * 1024,
        ...(options.as ? { uid: options.as.uid, gid: options.as.gid, env: { ...process.env, USER: options.as.name, LOGNAME: options.as.name } } : {}),
      },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const exitCode = typeof error.code === 'number' ? error.code : null;
        const detail = stderr.trim().split('\n').slice(-5).join('\n');
        reject(new CommandError(`${file} ${args.join(' ')} failed (exit ${exitCode ?? error.code ?? 'signal'})${detail ? `:\n${detail}` : ''}`, exitCode, stderr, error));
      },
    );
  });
}

/** Exit status only, for commands whose status is the answer (e.g. `pg_ctl status`). */
export async function exitStatus(file: string, args: readonly string[], options: RunOptions = {}): Promise<number> {
  try {
    await run(file, args, options);
    return 0;
  } catch (error) {
    if (error instanceof CommandError && error.exitCode !== null) return error.exitCode;
    throw error;
  }
}

/**
 * The OS user PostgreSQL must run as: none when we are not root (it runs as us),
 * the `postgres` user when we are, because postgres refuses to start as root.
 */
export async function resolveRunAs(userName = 'postgres'): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number((await run('id', ['-u', userName])).trim());
    const gid = Number((await run('id', ['-g', userName])).trim());
    return { uid, gid, name: userName };
  } catch (error) {
    throw new Error(`Running as root, PostgreSQL needs the OS user "${userName}", which was not found`, { cause: error });
  }
}
