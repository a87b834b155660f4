import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** The pinned Node that runs Scalemart, so the lab measures what `npm start` runs. */
export const NODE = path.resolve('node_modules/.bin/node');

export interface Service {
  origin: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
// Whatever happens to the lab, it leaves no server behind.
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

export const labDataDir = (name: string) => mkdtemp(path.join(os.tmpdir(), `scalemart-lab-${name}-`));

/** Runs a command to completion; rejects with its output when it fails. */
export function run(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += String(c)));
    child.stderr.on('data', (c) => (out += String(c)));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited ${code}: ${out}`))));
  });
}

/** Starts a server process and resolves once it prints the origin it listens on. */
export function startService(args: string[], env: Record<string, string>, listening: RegExp): Promise<Service> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    const onData = (chunk: Buffer) => {
      out += String(chunk);
      const match = listening.exec(out);
      if (match) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve({
          origin: match[1]!,
          child,
          stop: () => new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }).then(() => void children.delete(child)),
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c) => (out += String(c)));
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code} before listening:\n${out}`)));
  });
}

/** `scalemart start` on a free port with the given environment. */
export function startScalemart(env: Record<string, string>): Promise<Service> {
  return startService(['src/app/cli.ts', 'start', '--port', '0'], { LOG_LEVEL: 'warn', ...env }, /API\s+(http:\/\/\S+?)\/api\/v1\/products/);
}
