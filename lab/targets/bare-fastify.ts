import type { ProcessGroup } from '../processes.ts';
import { freePort, waitUntilOk } from '../readiness.ts';
import type { Target } from './target.ts';

/**
 * Starts lab/references/bare-fastify.ts serving the bodies in `bodiesFile` (keyed by product id, or
 * by request URL with `byUrl`); ready once `probePath` answers 200.
 */
export async function startBareFastify(group: ProcessGroup, bodiesFile: string, probePath: string, byUrl = false): Promise<Target> {
  const port = await freePort();
  const server = group.start('bare fastify', ['lab/references/bare-fastify.ts', '--port', String(port), '--bodies', bodiesFile, ...(byUrl ? ['--by-url'] : [])]);
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
