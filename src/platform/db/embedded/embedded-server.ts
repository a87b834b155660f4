import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { findPostgresBinaries } from './postgres-binaries.ts';
import { serverAccount, type Account } from './run-as.ts';

export interface EmbeddedServerOptions {
  /** The cluster's directory, created (initdb) on the first start. */
  dir: string;
  /** Milliseconds to wait for the server to accept connections (a crash recovery replays WAL first). Default 120 000. */
  startTimeoutMs?: number;
  /** Extra `postgresql.conf` settings, passed on the command line at every start. */
  settings?: Record<string, string>;
}

export interface EmbeddedServer {
  /** A postgres:// URL over the server's unix socket. */
  url: string;
  /** The postmaster's process id. */
  pid: number;
  /** Fast shutdown: aborts open transactions, writes a checkpoint, waits for the exit. */
  stop(): Promise<void>;
}

const USER = 'scalemart';
const DATABASE = 'postgres';

/**
 * Settings for one small server that only this process talks to. Durability stays PostgreSQL's
 * default (fsync, synchronous_commit, full_page_writes): that is why this engine is the default.
 * Memory is what a small host can spare: 32 MB of shared buffers, few connections, no parallel
 * workers, no JIT. The socket is the only way in (no TCP listener).
 */
const SETTINGS: Record<string, string> = {
  listen_addresses: '',
  max_connections: '40',
  shared_buffers: '32MB',
  max_wal_size: '256MB',
  wal_level: 'minimal',
  max_wal_senders: '0',
  max_parallel_workers_per_gather: '0',
  max_worker_processes: '4',
  jit: 'off',
  huge_pages: 'off',
  logging_collector: 'off',
  log_min_messages: 'warning',
  log_checkpoints: 'off',
};

/**
 * The supervisor: a shell that runs the postmaster and watches its own stdin, a pipe from the Node
 * process. When Node exits for any reason, SIGKILL included, the kernel closes the pipe, `read`
 * returns, and the shell asks PostgreSQL for a fast shutdown: the server never outlives the
 * process that owns it, and a restarted process finds the directory free within a second or two.
 * A background job's stdin is /dev/null in a non-interactive shell, so the pipe is kept on fd 3.
 */
const SUPERVISOR = `
exec 3<&0
"$@" </dev/null &
pg=$!
trap 'kill -INT $pg 2>/dev/null' INT TERM
( read -r _ <&3; kill -INT $pg 2>/dev/null ) &
while kill -0 $pg 2>/dev/null; do wait $pg; done
`;

/** The unix socket must fit in sun_path (107 bytes); a deep data directory gets one in the temp directory. */
function socketDirectory(dir: string): string {
  if (path.join(dir, '.s.PGSQL.5432').length < 100) return dir;
  return path.join(tmpdir(), `scalemart-pg-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`);
}

function ownDirectory(target: string, account: Account | undefined): void {
  mkdirSync(target, { recursive: true, mode: 0o700 });
  if (account) chownSync(target, account.uid, account.gid);
  chmodSync(target, 0o700);
}

/**
 * Started by root, the server's account must be able to reach its directory. The data directory
 * (the cluster's parent, Scalemart's own) gets search permission for others if it lacks it (not
 * read: its other files stay private); a directory above it that the account cannot pass is the
 * operator's to change, so that is an error naming it.
 */
function ensureReachable(dir: string, account: Account | undefined): void {
  if (!account) return;
  const parent = path.dirname(dir);
  const mode = statSync(parent).mode;
  if ((mode & 0o001) === 0) chmodSync(parent, mode | 0o001);
  for (let up = path.dirname(parent); ; up = path.dirname(up)) {
    const stat = statSync(up);
    const passable = stat.uid === account.uid ? stat.mode & 0o100 : stat.gid === account.gid ? stat.mode & 0o010 : stat.mode & 0o001;
    if (!passable) throw new Error(`the embedded database runs as ${account.name}, who cannot reach ${dir}: ${up} lacks search permission for it`);
    if (up === path.dirname(up)) return;
  }
}

function run(command: string, args: string[], account: Account | undefined, log: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', log, log], uid: account?.uid, gid: account?.gid });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(command)} exited ${code}`))));
  });
}

/**
 * First start: initdb into a sibling directory, then rename it into place, so a crash during
 * initdb leaves no half-made cluster that later starts would trip over.
 */
async function initCluster(dir: string, initdb: string, account: Account | undefined, log: number): Promise<void> {
  const scratch = `${dir}.initdb`;
  rmSync(scratch, { recursive: true, force: true });
  ownDirectory(scratch, account);
  await run(initdb, ['-D', scratch, '-U', USER, '--auth=trust', '--encoding=UTF8', '--locale=C'], account, log);
  renameSync(scratch, dir);
}

function isPostmaster(pid: number, postgres: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === postgres;
  } catch {
    return false;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * The live process that owns a running postmaster (its supervisor's parent), or undefined when
 * that owner is gone: then the supervisor was handed to init and is shutting the server down.
 */
function ownerOf(postmaster: number): number | undefined {
  const supervisor = parentOf(postmaster);
  const owner = supervisor === undefined ? undefined : parentOf(supervisor);
  return owner === undefined || owner <= 1 ? undefined : owner;
}

/**
 * A postmaster from this process's previous life may still be shutting down (its supervisor saw
 * the pipe close). Wait for it. One whose owner is alive belongs to another running process (a
 * second `scalemart start` on the same directory): that is an error at once. A lock file naming a
 * process that is not our postmaster is stale (a reboot reused the pid): PostgreSQL would refuse
 * to start over it, so it goes.
 */
async function awaitPreviousServer(dir: string, postgres: string, timeoutMs: number): Promise<void> {
  const lock = path.join(dir, 'postmaster.pid');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let pid: number;
    try {
      pid = Number(readFileSync(lock, 'utf8').split('\n')[0]);
    } catch {
      return;
    }
    if (!Number.isInteger(pid) || pid <= 0 || !isPostmaster(pid, postgres)) {
      rmSync(lock, { force: true });
      return;
    }
    const owner = ownerOf(pid);
    if (owner !== undefined) throw new Error(`the embedded database in ${dir} is in use by process ${owner} (another Scalemart on the same data directory?)`);
    if (Date.now() > deadline) throw new Error(`the embedded database in ${dir} is still held by process ${pid}`);
    await sleep(100);
  }
}

async function awaitConnections(url: string, exited: () => string | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failure = exited();
    if (failure) throw new Error(failure);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`the embedded database did not accept connections within ${timeoutMs} ms`, { cause: error });
    } finally {
      await client.end().catch(() => undefined);
    }
    await sleep(50);
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts PostgreSQL on `dir` as a child of this process, initialising the cluster on the first
 * start. Run as root, the server runs as `postgres` (or `nobody`).
 */
export async function startEmbeddedServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const { initdb, postgres } = findPostgresBinaries();
  const dir = path.resolve(options.dir);
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  const account = serverAccount();
  mkdirSync(path.dirname(dir), { recursive: true });
  ensureReachable(dir, account);
  const logFile = `${dir}.log`;
  const log = openSync(logFile, 'a');
  let supervisor: ChildProcess;
  try {
    if (!existsSync(path.join(dir, 'PG_VERSION'))) await initCluster(dir, initdb, account, log);
    await awaitPreviousServer(dir, postgres, timeoutMs);
    const sockets = socketDirectory(dir);
    if (sockets !== dir) ownDirectory(sockets, account);
    const settings = { ...SETTINGS, unix_socket_directories: sockets, ...options.settings };
    const args = ['-D', dir, ...Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`])];
    supervisor = spawn('/bin/sh', ['-c', SUPERVISOR, 'supervisor', postgres, ...args], { stdio: ['pipe', log, log], uid: account?.uid, gid: account?.gid });
  } finally {
    closeSync(log);
  }
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    supervisor.once('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  // The pipe is the server's lifeline; it must not keep Node's event loop alive on its own.
  supervisor.stdin?.on('error', () => undefined);
  (supervisor.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  supervisor.unref();

  const url = `postgresql://${USER}@localhost/${DATABASE}?host=${encodeURIComponent(socketDirectory(dir))}`;
  try {
    await awaitConnections(url, () => (exitCode !== undefined ? `the embedded database exited (${exitCode}) while starting:\n${tail(logFile)}` : undefined), timeoutMs);
  } catch (error) {
    supervisor.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    throw error;
  }
  const pid = Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    url,
    pid,
    async stop() {
      if (exitCode !== undefined) return;
      // Closing the pipe ends the watcher too (it would otherwise wait for Node's exit).
      supervisor.stdin?.end();
      supervisor.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
      if (!stopped && isPostmaster(pid, postgres)) process.kill(pid, 'SIGQUIT');
    },
  };
}
