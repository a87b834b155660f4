import { createServer } from 'node:net';
import { assertLoopback } from './drivers/loopback.ts';
import type { ManagedProcess } from './processes.ts';

/**
 * A port free on 127.0.0.1 right now: the OS picks it, we release it and hand it to a child.
 * Another process could take it in between; the child then fails to listen and says so.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

/**
 * Polls `url` until it answers 200. Fails early, with the process's output, if the process
 * that should serve it exits, and after timeoutMs otherwise.
 */
export async function waitUntilOk(url: string, server: ManagedProcess, timeoutMs = 60_000): Promise<void> {
  assertLoopback(url);
  let exited: number | string | undefined;
  void server.exited.then((code) => (exited = code));
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer';
  while (performance.now() < deadline) {
    if (exited !== undefined) throw new Error(`${server.name} exited (${exited}) before ${url} answered 200:\n${server.output()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${server.name}: ${url} did not answer 200 within ${timeoutMs} ms (last: ${last}):\n${server.output()}`);
}
