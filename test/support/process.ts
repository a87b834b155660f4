import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { ephemeralPortRange, LINUX_DEFAULT_EPHEMERAL } from '../../src/app/infra/ports.ts';

export const NODE = path.resolve('node_modules/.bin/node');

/**
 * Test servers' ports: each vitest worker walks its own slice of 28000–31999, below the kernel's
 * ephemeral range. A port the kernel handed out (listen on 0) and that was let go before the
 * server bound it could be taken meanwhile as the source port of any process's outgoing
 * connection: the payment-hang suite's S process once failed with EADDRINUSE on 43033 that way.
 * Below the range only listeners compete, and each worker's slice keeps the two workers apart.
 * The walk starts at a random place, since a worker runs one file after another and a process a
 * previous file left behind may still hold its ports; a port something listens on is skipped.
 */
const SLICE = 1_000;
const FIRST_PORT = 28_000;
const SLICES = 4;
let nextPort: number | undefined;

/** This worker's slice: its lowest port. */
const low = FIRST_PORT + ((Number(process.env.VITEST_POOL_ID ?? 1) - 1) % SLICES) * SLICE;
const ephemeral = ephemeralPortRange() ?? LINUX_DEFAULT_EPHEMERAL;

/** A free loopback port, so a restarted process comes back where clients expect it. */
export async function freePort(): Promise<number> {
  if (low + SLICE > ephemeral.low) throw new Error(`test ports ${low}–${low + SLICE - 1} reach this machine's ephemeral range (${ephemeral.low}–${ephemeral.high})`);
  for (let tried = 0; tried < SLICE; tried++) {
    // Taken before the probe's await, so calls made side by side never try the same port.
    const port = low + (((nextPort ?? low + Math.floor(Math.random() * SLICE)) - low) % SLICE);
    nextPort = port + 1;
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${low}–${low + SLICE - 1}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface Running {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  exited: Promise<number | null>;
}

/** Starts `scalemart start` and resolves once it listens; `watch` sees its output from the first byte (a start that hangs). */
export function startScalemartProcess(env: Record<string, string>, port: number, watch?: (output: () => string) => void): Promise<Running> {
  const child = spawn(NODE, ['src/app/cli.ts', 'start', '--port', String(port)], { env: { ...process.env, ...env }, stdio: 'pipe' });
  let out = '';
  watch?.(() => out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => (out += String(chunk)));
    child.stdout.on('data', (chunk) => {
      out += String(chunk);
      if (out.includes('Scalemart is running')) resolve({ child, output: () => out, exited });
    });
    void exited.then((code) => reject(new Error(`exited ${code} before listening:\n${out}`)));
  });
}

/**
 * A Scalemart process that a test can stop at any moment and bring back on the same port, the
 * way an orchestrator restarts a crashed instance; clients keep using one origin throughout.
 */
export async function createRestartableScalemart(env: Record<string, string>) {
  const port = await freePort();
  let current = await startScalemartProcess(env, port);
  let failedStart: Error | undefined;
  let starting: (() => string) | undefined;
  return {
    origin: `http://127.0.0.1:${port}`,
    /** Sends `signal`, waits for the exit, starts it again. */
    async restart(signal: NodeJS.Signals): Promise<void> {
      current.child.kill(signal);
      await current.exited;
      current = await startScalemartProcess(env, port, (output) => (starting = output)).catch((error: Error) => {
        failedStart = error;
        throw error;
      });
      starting = undefined;
    },
    kill: () => void current.child.kill('SIGKILL'),
    /** A graceful stop that waits for the exit (an embedded database is shut down with it). */
    async stop(): Promise<void> {
      current.child.kill('SIGTERM');
      await current.exited;
    },
    /** What the current process printed so far (or why the last restart failed), for a failure message. */
    output: () => failedStart?.message ?? (starting ? `(restarting; the new process printed:)\n${starting()}` : current.output()),
  };
}
