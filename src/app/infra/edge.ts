import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBinary } from './binaries.ts';
import { edgePaths, nginxConfig, type EdgeConfigOptions } from './nginx-config.ts';
import { run } from './run.ts';

/** The project's installer: Debian's nginx package, only when the binary is missing. */
export const ENSURE_NGINX_SCRIPT = fileURLToPath(new URL('../../../scripts/ensure-nginx.sh', import.meta.url));

const SBIN = () => ({ path: `${process.env.PATH ?? ''}:/usr/sbin:/usr/local/sbin` });

/** The nginx binary on PATH, /usr/sbin or /usr/local/sbin (Debian keeps it off a user's PATH). */
export function findNginx(): string | undefined {
  return findBinary('nginx', SBIN());
}

/**
 * The nginx binary, installing Debian's package through `scripts/ensure-nginx.sh` when it is
 * missing (needs root). `find` and `script` are for tests.
 */
export async function ensureNginx(log: (line: string) => void = () => {}, find = findNginx, script = ENSURE_NGINX_SCRIPT): Promise<string> {
  const found = find();
  if (found) return found;
  log('nginx: not found, installing Debian\'s package (scripts/ensure-nginx.sh)');
  await run(script, [], { timeoutMs: 600_000 });
  const installed = find();
  if (!installed) throw new Error(`nginx is still missing after ${script}`);
  return installed;
}

/** A running edge as `infra` records it: `stopEdge` checks the pid still is this nginx before signalling it. */
export interface StartedEdge {
  name: 'edge';
  port: number;
  pid: number;
  conf: string;
}

export type EdgeOptions = Omit<EdgeConfigOptions, 'daemon' | 'user'>;

/**
 * nginx started as root hands its workers to `nobody`, who cannot enter a 0700 directory made by
 * mkdtemp or a private data dir, so temp and cache writes would fail. The workers run as whoever
 * started the edge instead: the same trust as the rest of `infra`, listening on loopback only.
 */
function workerUser(): string | undefined {
  return process.getuid?.() === 0 ? userInfo().username : undefined;
}

/** Writes the config and makes its directories; returns the config's path. */
export async function writeEdgeConfig(options: EdgeConfigOptions): Promise<string> {
  const paths = edgePaths(options.dir);
  await mkdir(paths.temp, { recursive: true });
  if (options.cache) await mkdir(paths.cache, { recursive: true });
  await writeFile(paths.conf, nginxConfig(options));
  return paths.conf;
}

/** nginx's arguments for one config: prefix, config and error log all under the edge's directory. */
export function nginxArgs(dir: string, extra: string[] = []): string[] {
  const paths = edgePaths(dir);
  return ['-p', dir, '-c', paths.conf, '-e', paths.errorLog, ...extra];
}

/** True when the edge answers its own liveness route (served by nginx itself, not an upstream). */
export async function probeEdge(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}:${port}/_edge/livez`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

async function commandLine(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

/** The master of exactly this config: nginx retitles it `nginx: master process <binary> -p … -c <conf> …`. */
export async function isOurEdge(edge: Pick<StartedEdge, 'pid' | 'conf'>): Promise<boolean> {
  const cmd = await commandLine(edge.pid);
  return cmd !== undefined && cmd.includes('nginx: master process') && cmd.includes(edge.conf);
}

/**
 * Starts nginx as a daemon under `options.dir` (it outlives `infra up`), waits until it answers,
 * and reads its pid back from the pid file: that pid, never a process name, is how it is stopped.
 */
export async function startEdge(options: EdgeOptions, log: (line: string) => void = () => {}): Promise<StartedEdge> {
  const nginx = await ensureNginx(log);
  const config: EdgeConfigOptions = { ...options, daemon: true, user: workerUser() };
  const conf = await writeEdgeConfig(config);
  const paths = edgePaths(options.dir);
  await rm(paths.pid, { force: true });
  await run(nginx, nginxArgs(options.dir, ['-t', '-q']));
  // With `daemon on` the command returns once the master has forked; a bind failure exits non-zero first.
  await run(nginx, nginxArgs(options.dir));
  const deadline = Date.now() + 10_000;
  while (!(await probeEdge(options.port, options.host))) {
    if (Date.now() > deadline) throw new Error(`the edge did not answer on port ${options.port} within 10 s; see ${paths.errorLog}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = Number((await readFile(paths.pid, 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`the edge's pid file ${paths.pid} holds no pid`);
  return { name: 'edge', port: options.port, pid, conf };
}

/** Rewrites the config and has the running master load it (SIGHUP): new upstreams or cache switch, no dropped connection. */
export async function reloadEdge(edge: StartedEdge, options: EdgeOptions): Promise<void> {
  const nginx = await ensureNginx();
  await writeEdgeConfig({ ...options, daemon: true, user: workerUser() });
  await run(nginx, nginxArgs(options.dir, ['-t', '-q']));
  if (!(await isOurEdge(edge))) throw new Error(`pid ${edge.pid} is not this edge's nginx`);
  process.kill(edge.pid, 'SIGHUP');
}

/**
 * Stops an edge we started, by its pid, after checking the pid still is that nginx (pids are
 * reused). SIGQUIT lets in-flight requests finish; SIGTERM follows if it has not gone in time.
 */
export async function stopEdge(edge: Pick<StartedEdge, 'pid' | 'conf'>, boundMs = 10_000): Promise<boolean> {
  if (!(await isOurEdge(edge))) return false;
  process.kill(edge.pid, 'SIGQUIT');
  let deadline = Date.now() + boundMs;
  let escalated = false;
  while (await isOurEdge(edge)) {
    if (Date.now() > deadline) {
      if (escalated) throw new Error(`the edge (pid ${edge.pid}) did not stop`);
      process.kill(edge.pid, 'SIGTERM');
      escalated = true;
      deadline = Date.now() + boundMs;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** The edge's directory inside an infra directory. */
export const edgeDir = (infraDir: string) => join(infraDir, 'edge');
