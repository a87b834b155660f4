import type { ProcessGroup } from '../processes.ts';
import { freePort, waitUntilOk } from '../readiness.ts';
import { GC_PROBE_ARGS } from './gc-probe.ts';
import type { Target } from './target.ts';

export interface BareExtras {
  /** `{ "<path and query>": body }` of list pages, served on GET /api/v1/products (by-id mode). */
  pagesFile?: string;
  /** `{ "<id>": etag }`: a product GET whose If-None-Match is that tag gets a 304 (by-id mode). */
  etagsFile?: string;
  /** Preload the GC probe and open an IPC channel, for the CPU accounting. */
  gcProbe?: boolean;
}

/**
 * Starts lab/references/bare-fastify.ts serving the bodies in `bodiesFile` (keyed by product id, or
 * by request URL with `byUrl`); ready once `probePath` answers 200.
 */
export async function startBareFastify(group: ProcessGroup, bodiesFile: string, probePath: string, byUrl = false, extras: BareExtras = {}): Promise<Target> {
  const port = await freePort();
  const args = [
    ...(extras.gcProbe ? GC_PROBE_ARGS : []),
    'lab/references/bare-fastify.ts', '--port', String(port), '--bodies', bodiesFile,
    ...(byUrl ? ['--by-url'] : []),
    ...(extras.pagesFile ? ['--pages', extras.pagesFile] : []),
    ...(extras.etagsFile ? ['--etags', extras.etagsFile] : []),
  ];
  const server = group.start('bare fastify', args, {}, { ipc: extras.gcProbe === true });
  const origin = `http://127.0.0.1:${port}`;
  await waitUntilOk(`${origin}${probePath}`, server);
  return { name: 'bare fastify', origin, process: server };
}

/**
 * Both targets must serve byte-identical bodies, or the comparison measures payloads, not code.
 * Checks a spread of paths and throws on the first difference.
 */
export async function assertSameBodies(a: Target, b: Target, paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    const [left, right] = await Promise.all([a, b].map(async (t) => (await fetch(`${t.origin}${path}`)).text()));
    if (left !== right) throw new Error(`${a.name} and ${b.name} differ on ${path}:\n${left}\n${right}`);
  }
}
