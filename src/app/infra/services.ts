import { spawn } from 'node:child_process';
import { readFile, mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { findBinary } from './binaries.ts';
import { run } from './run.ts';

export type ServiceName = 'redis' | 'nats';

/** What we started, so `down` stops only that and never a server someone else runs. */
export interface StartedService {
  name: ServiceName;
  port: number;
  pid: number;
}

const SBIN = { path: `${process.env.PATH ?? ''}:/usr/sbin:/usr/local/sbin` };

/**
 * Whether the service answers its own protocol on 127.0.0.1:port, not merely whether the port
 * is open: Redis must reply +PONG to PING, NATS greets every client with INFO.
 */
export function probeService(name: ServiceName, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', () => {
      if (name === 'redis') socket.write('PING\r\n');
    });
    socket.on('data', (chunk) => {
      received += chunk.toString();
      if (name === 'redis' && received.includes('\r\n')) finish(received.startsWith('+PONG'));
      if (name === 'nats' && received.includes('\r\n')) finish(received.startsWith('INFO'));
    });
  });
}

async function waitUntilAnswering(name: ServiceName, port: number, boundMs = 15_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    if (await probeService(name, port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not answer on port ${port} within ${boundMs / 1000} s`);
}

function binary(name: string): string {
  const file = findBinary(name, SBIN);
  if (!file) throw new Error(`${name} not found on PATH, /usr/sbin or /usr/local/sbin`);
  return file;
}

/** Starts Redis without persistence (it is a cache here), daemonized, with its pid file under `dir`. */
export async function startRedis(dir: string, port: number): Promise<StartedService> {
  await mkdir(dir, { recursive: true });
  const pidFile = join(dir, 'redis.pid');
  await run(binary('redis-server'), [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'yes',
    '--pidfile', pidFile, '--logfile', join(dir, 'redis.log'), '--dir', dir,
  ]);
  await waitUntilAnswering('redis', port);
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  return { name: 'redis', port, pid };
}

/** Starts NATS with JetStream storing under `dir`, detached so it outlives this command. */
export async function startNats(dir: string, port: number): Promise<StartedService> {
  await mkdir(dir, { recursive: true });
  const child = spawn(binary('nats-server'), ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir, '-l', join(dir, 'nats.log')], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  if (child.pid === undefined) throw new Error('nats-server did not start');
  await waitUntilAnswering('nats', port);
  return { name: 'nats', port, pid: child.pid };
}

async function commandLine(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

/**
 * Stops a service we started, after checking the pid still belongs to it: pids are reused, and
 * killing whatever now holds the number would be far worse than leaving a stray server.
 */
export async function stopService(service: StartedService, boundMs = 15_000): Promise<void> {
  const expected = service.name === 'redis' ? 'redis-server' : 'nats-server';
  const cmd = await commandLine(service.pid);
  if (!cmd?.includes(expected)) return;
  process.kill(service.pid, 'SIGTERM');
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    const now = await commandLine(service.pid);
    if (!now?.includes(expected)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${service.name} (pid ${service.pid}) did not stop within ${boundMs / 1000} s`);
}
