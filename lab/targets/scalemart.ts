import { writeFile } from 'node:fs/promises';
import { SCALEMART_CLI } from '../paths.ts';
import type { ProcessGroup } from '../processes.ts';
import { freePort, waitUntilOk } from '../readiness.ts';
import { GC_PROBE_ARGS } from './gc-probe.ts';
import type { Target } from './target.ts';

/**
 * What every lab run of Scalemart sets: quiet logs (the bare reference logs nothing either), a rate
 * limit no load run reaches (the limiter still runs on every request), no demo catalog (the lab
 * seeds its own), and loopback only.
 */
export const LAB_ENV: Readonly<Record<string, string>> = {
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  RATE_LIMIT_POINTS: '100000000',
  SEED_DEMO_PRODUCTS: '0',
};

// Settings a developer may set in the shell to compare runs (e.g. CACHE_MODE=off); the report records them.
const RECORDED = /^(SCALEMART_|CACHE_|DB_|DATABASE_URL$|HTTP_|RATE_LIMIT_|LOG_LEVEL$|ORDER_)/;
const SECRET = /URL|SECRET|PASSWORD|KEY/;

/** The Scalemart settings of a run: inherited from the shell, then the lab's own; secrets masked. */
export function scalemartFlags(env: Record<string, string>, inherited: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...inherited, ...env })) {
    if (value === undefined || !RECORDED.test(key) || key === 'SCALEMART_DATA_DIR') continue;
    flags[key] = SECRET.test(key) && value !== '' ? '(set)' : value;
  }
  return flags;
}

export async function seedScalemart(group: ProcessGroup, env: Record<string, string>, products: number): Promise<void> {
  await group.run('scalemart seed', [SCALEMART_CLI, 'seed', '--products', String(products), '--users', '0'], env, 15 * 60_000);
}

/** Starts `scalemart start` on a free port; with `gcProbe`, preloads the lab's GC probe (CPU accounting). */
export async function startScalemart(group: ProcessGroup, env: Record<string, string>, name = 'scalemart', options: { gcProbe?: boolean } = {}): Promise<Target> {
  const port = await freePort();
  const args = [...(options.gcProbe ? GC_PROBE_ARGS : []), SCALEMART_CLI, 'start', '--port', String(port)];
  const server = group.start(name, args, env, { ipc: options.gcProbe === true });
  const origin = `http://127.0.0.1:${port}`;
  await waitUntilOk(`${origin}/readyz`, server);
  return { name, origin, process: server };
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`GET ${url}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** Every product id, page by page through the public listing. Ids are opaque strings. */
export async function listProductIds(origin: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const page = await getJson<{ items: { id: string }[]; nextCursor: string | null }>(`${origin}/api/v1/products?limit=100${query}`);
    ids.push(...page.items.map((item) => item.id));
    cursor = page.nextCursor;
  } while (cursor !== null);
  return ids;
}

export const productPath = (id: string) => `/api/v1/products/${encodeURIComponent(id)}`;

/**
 * Writes `{ key: body }` with the exact bodies Scalemart serves for `paths` (keyed by `keys`, the
 * paths themselves by default), for the bare reference to serve too. In the given order, so the
 * file does not depend on which request answered first.
 */
export async function snapshotBodies(origin: string, paths: readonly string[], file: string, keys: readonly string[] = paths, concurrency = 32): Promise<void> {
  const bodies: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      bodies[i] = await getJson(`${origin}${paths[i]!}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await writeFile(file, JSON.stringify(Object.fromEntries(keys.map((key, i) => [key, bodies[i]]))));
}

/** Writes `{ id: body }` with the exact product pages Scalemart serves. */
export const snapshotProducts = (origin: string, ids: readonly string[], file: string) => snapshotBodies(origin, ids.map(productPath), file, ids);

/** `{ key: ETag }` of what Scalemart serves for `paths` (keyed by `keys`), for conditional GETs. */
export async function snapshotEtags(origin: string, paths: readonly string[], keys: readonly string[] = paths, concurrency = 32): Promise<Record<string, string>> {
  const etags: Record<string, string> = {};
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      const response = await fetch(`${origin}${paths[i]!}`);
      await response.arrayBuffer();
      const etag = response.headers.get('etag');
      if (response.status !== 200 || etag === null) throw new Error(`GET ${paths[i]!}: HTTP ${response.status}, ETag ${etag}`);
      etags[keys[i]!] = etag;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return etags;
}
