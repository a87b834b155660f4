import type { ProcessGroup } from '../processes.ts';
import { freePort, waitUntilOk } from '../readiness.ts';
import { GC_PROBE_ARGS } from './gc-probe.ts';
import type { Target } from './target.ts';

/**
 * Starts lab/references/http-app-alone.ts (Scalemart's HTTP app with one product route, in a
 * process of its own) on the bodies and ETags of `startBareFastify`, with Scalemart's lab settings
 * `env`; preloads the GC probe for the CPU accounting.
 */
export async function startHttpAppAlone(group: ProcessGroup, bodiesFile: string, etagsFile: string, probePath: string, env: Record<string, string>): Promise<Target> {
  const port = await freePort();
  const args = [...GC_PROBE_ARGS, 'lab/references/http-app-alone.ts', '--port', String(port), '--bodies', bodiesFile, '--etags', etagsFile];
  const server = group.start(HTTP_APP_ALONE, args, env, { ipc: true });
  const origin = `http://127.0.0.1:${port}`;
  await waitUntilOk(`${origin}${probePath}`, server);
  return { name: HTTP_APP_ALONE, origin, process: server };
}

/** The name the hot-read report knows Scalemart's HTTP app alone by. */
export const HTTP_APP_ALONE = 'http app alone';
