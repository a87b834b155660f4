import path from 'node:path';
import { ensureNginx, nginxArgs, writeEdgeConfig } from '../../src/app/infra/edge.ts';
import type { ProcessGroup } from '../processes.ts';
import { freePort, waitUntilOk } from '../readiness.ts';
import type { Target } from './target.ts';

export interface NginxProxyOptions {
  name: string;
  upstreams: readonly string[];
  balance?: 'round-robin' | 'least-conn';
  weights?: readonly number[];
}

/**
 * Debian's nginx with the edge's own generated config (upstream keep-alive on, cache off, access
 * log off), as one process without a master: its pid is our child's, so the CPU accounting reads
 * exactly the process that proxies, and stopping the child leaves nothing behind.
 */
export async function startNginxProxy(group: ProcessGroup, options: NginxProxyOptions): Promise<Target> {
  const nginx = await ensureNginx();
  const dir = await group.tempDir(`nginx-${options.name.replace(/\W+/g, '-')}`);
  const port = await freePort();
  await writeEdgeConfig({
    dir,
    port,
    upstreams: options.upstreams,
    balance: options.balance,
    weights: options.weights,
    daemon: false,
    masterProcess: false,
    accessLog: false,
    // The lab runs as root here: the single process must be able to use the 0700 temp dir.
    user: process.getuid?.() === 0 ? 'root' : undefined,
  });
  const server = group.start(options.name, nginxArgs(dir), {}, { command: nginx });
  const origin = `http://127.0.0.1:${port}`;
  await waitUntilOk(`${origin}/_edge/livez`, server, 15_000);
  return { name: options.name, origin, process: server };
}

/** lab/references/fastify-http-proxy.ts in front of one upstream. */
export async function startFastifyHttpProxy(group: ProcessGroup, name: string, upstream: string, readyPath: string): Promise<Target> {
  const port = await freePort();
  const server = group.start(name, ['lab/references/fastify-http-proxy.ts', '--port', String(port), '--upstream', upstream]);
  const origin = `http://127.0.0.1:${port}`;
  await waitUntilOk(`${origin}${readyPath}`, server);
  return { name, origin, process: server };
}

/** lab/references/delay-upstream.ts: a node:http instance answering after `delayMs`. */
export async function startDelayUpstream(group: ProcessGroup, name: string, delayMs: number): Promise<Target> {
  const port = await freePort();
  const server = group.start(name, [path.join('lab', 'references', 'delay-upstream.ts'), '--port', String(port), '--delay-ms', String(delayMs), '--name', name]);
  const origin = `http://127.0.0.1:${port}`;
  await waitUntilOk(`${origin}/readyz`, server);
  return { name, origin, process: server };
}
