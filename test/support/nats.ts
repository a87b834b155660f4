import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Debian's nats-server 2.9; suites use nothing newer. */
export const NATS_SERVER = process.env.TEST_NATS_SERVER ?? '/usr/sbin/nats-server';

export interface PrivateNats {
  url: string;
  port: number;
  /** JetStream's store; kept across restart(), removed by stop(). */
  storeDir: string;
  /** Signals the running server and waits for it to exit (SIGKILL: a crash, nothing flushed). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and store (after kill, or kills it first). */
  restart(): Promise<void>;
  /** Kills it by pid and removes its store: call it in afterAll, whatever happened. */
  stop(): Promise<void>;
}

/**
 * A nats-server with JetStream that belongs to one suite: its own port (each suite takes its
 * own range) and a fresh store directory. Stopped by its pid only, never by name, so servers
 * of other suites and engineers on the machine are left alone.
 */
export async function startPrivateNats(options: { port: number; storeDir?: string }): Promise<PrivateNats> {
  const storeDir = options.storeDir ?? (await mkdtemp(path.join(tmpdir(), 'scalemart-nats-')));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  async function launch(): Promise<void> {
    const proc = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(options.port), '-js', '-sd', storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      // Read stderr for as long as it runs: a full pipe would block the server's logging.
      proc.stderr!.on('data', (chunk) => {
        if (out.includes('Server is ready')) return;
        out += String(chunk);
        if (out.includes('Server is ready')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`nats-server exited (${code}) before it was ready:\n${out}`)));
      proc.once('error', reject);
    });
  }

  async function kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  }

  try {
    await launch();
  } catch (error) {
    await kill('SIGKILL');
    if (!options.storeDir) await rm(storeDir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `nats://127.0.0.1:${options.port}`,
    port: options.port,
    storeDir,
    kill,
    async restart() {
      await kill();
      await launch();
    },
    async stop() {
      await kill('SIGKILL');
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
