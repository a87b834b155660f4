import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

export const NODE = path.resolve('node_modules/.bin/node');

/** A free loopback port, so a restarted process comes back where clients expect it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
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
