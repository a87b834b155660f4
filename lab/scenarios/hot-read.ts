import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runClosedLoop, type ClosedLoopResult } from '../drivers/closed-loop.ts';
import { runOpenLoop, type OpenLoopResult } from '../drivers/open-loop.ts';
import { assertSameBodies, startBareFastify } from '../targets/bare-fastify.ts';
import { startHttpAppAlone } from '../targets/http-app-alone.ts';
import { LAB_ENV, listProductIds, productPath, scalemartFlags, seedScalemart, snapshotBodies, snapshotEtags, snapshotProducts, startScalemart } from '../targets/scalemart.ts';
import { readWorkCounters, workBetween } from '../targets/scalemart-counters.ts';
import type { Target } from '../targets/target.ts';
import { createRandom, createZipf, seededShuffle } from '../workload/zipf.ts';
import { cpuRounds, type CpuKind } from './hot-read-cpu.ts';
import { CPU_KINDS, hotReadReport, LIST_SHARE, type HotReadMeasurements } from './hot-read-report.ts';
import type { LabOptions, Scenario, ScenarioContext } from './types.ts';

export const ZIPF_EXPONENT = 1.0;

/**
 * The catalog's cache TTL for the run unless the shell sets one: longer than a run, so that what the
 * CPU rounds measure is the cached read. With the default (300 s ± 10 %) every entry the bodies'
 * copy loaded expires within the same minute, a few minutes in, and the round that meets it pays a
 * load per product it touches: thousands of loads in one round, where a shop in steady state spreads
 * them over the TTL. The report counts Scalemart's cache misses and statements during the CPU rounds.
 */
const CACHED_FOR_SECONDS = 3600;

/** A fresh sequence drawn from `items`, the same for every call: Zipf ranks over a seeded order of them. */
function createZipfSequence<T>(items: readonly T[], seed: number): () => () => T {
  const ordered = seededShuffle(items, createRandom(seed ^ 0x5eed));
  return () => {
    const rank = createZipf(ordered.length, ZIPF_EXPONENT, createRandom(seed));
    return () => ordered[rank()]!;
  };
}

/** The first page of the whole catalog and of every category: the list pages a shop serves most. */
const listPaths = (categories: readonly string[]) => ['/api/v1/products', ...categories.map((c) => `/api/v1/products?category=${encodeURIComponent(c)}`)];

/**
 * Seeds one catalog, starts Scalemart on it, and a bare Fastify serving the very bodies Scalemart
 * serves (product pages, list pages) and answering the same ETags with 304. Both preload the GC
 * probe for the CPU accounting.
 */
async function prepare(options: LabOptions, { group, log }: ScenarioContext) {
  const dataDir = await group.tempDir('hot-read-data');
  const env = { ...LAB_ENV, CACHE_TTL_SECONDS: process.env.CACHE_TTL_SECONDS ?? String(CACHED_FOR_SECONDS), SCALEMART_DATA_DIR: dataDir };
  log(`Seeding ${options.products} products into ${dataDir} …`);
  await seedScalemart(group, env, options.products);
  const scalemart = await startScalemart(group, env, 'scalemart', { gcProbe: true });
  const ids = await listProductIds(scalemart.origin);
  if (ids.length === 0) throw new Error('hot-read: the seeded catalog lists no products');
  if (ids.length !== options.products) log(`Note: the catalog lists ${ids.length} products, not ${options.products}.`);
  log(`Scalemart ready on ${scalemart.origin}; copying ${ids.length} product bodies, their ETags and the list pages for the bare reference …`);
  const dir = await group.tempDir('hot-read-bare');
  const files = { bodies: path.join(dir, 'products.json'), pages: path.join(dir, 'pages.json'), etags: path.join(dir, 'etags.json') };
  await snapshotProducts(scalemart.origin, ids, files.bodies);
  const products = JSON.parse(await readFile(files.bodies, 'utf8')) as Record<string, { category: string }>;
  const lists = listPaths([...new Set(Object.values(products).map((p) => p.category))].sort());
  await snapshotBodies(scalemart.origin, lists, files.pages);
  const etags = await snapshotEtags(scalemart.origin, ids.map(productPath), ids);
  await writeFile(files.etags, JSON.stringify(etags));
  const bare = await startBareFastify(group, files.bodies, productPath(ids[0]!), false, { pagesFile: files.pages, etagsFile: files.etags, gcProbe: true });
  const step = Math.max(1, Math.floor(ids.length / 20));
  await assertSameBodies(scalemart, bare, [...ids.filter((_, i) => i % step === 0).map(productPath), ...lists]);
  log(`Bare Fastify ready on ${bare.origin}, serving the same bodies (${lists.length} list pages).`);
  const { SCALEMART_DATA_DIR: _dataDir, ...settings } = env;
  const alone = await startHttpAppAlone(group, files.bodies, files.etags, productPath(ids[0]!), settings);
  await assertSameBodies(scalemart, alone, ids.filter((_, i) => i % step === 0).map(productPath));
  log(`Scalemart's HTTP app alone ready on ${alone.origin}, serving the same product bodies.`);
  return { ids, lists, etags, targets: [scalemart, bare] as const, alone, flags: scalemartFlags(env) };
}

async function closedLoopRounds(options: LabOptions, targets: readonly Target[], workload: () => () => string, log: (line: string) => void) {
  const rounds = new Map<string, ClosedLoopResult[]>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= options.rounds; round++) {
    // A B A B …: both targets see the machine's drift over the run, and always the same key sequence.
    for (const target of targets) {
      const result = await runClosedLoop({
        origin: target.origin,
        connections: options.connections,
        durationSeconds: options.durationSeconds,
        warmupSeconds: options.warmupSeconds,
        paths: workload,
      });
      rounds.get(target.name)!.push(result);
      log(`round ${round}/${options.rounds} ${target.name.padEnd(12)} ${Math.round(result.requestsPerSecond)} req/s, p99 ${result.p99Ms} ms, non-2xx ${result.non2xx}, errors ${result.errors}`);
    }
  }
  return rounds;
}

async function openLoopPhase(options: LabOptions, targets: readonly Target[], workload: () => () => string, log: (line: string) => void) {
  const results = new Map<string, OpenLoopResult>();
  for (const target of targets) {
    const next = workload();
    const result = await runOpenLoop({
      origin: target.origin,
      ratePerSecond: options.rate,
      durationSeconds: options.openLoopSeconds,
      request: () => ({ method: 'GET', path: next() }),
    });
    results.set(target.name, result);
    log(`open loop ${target.name.padEnd(12)} ${result.sent} sent at ${options.rate}/s, p99 ${result.ms.p99.toFixed(2)} ms, late ${result.late}`);
  }
  return results;
}

/**
 * GET /api/v1/products/:id on the monolith, Zipf 1.0 over the catalog, against a bare Fastify route
 * serving the same JSON from a Map: alternated closed-loop rounds for the throughput ratio, an
 * open-loop phase per target for latency at a fixed rate, then the CPU accounting: CPU µs per
 * request (all threads, main thread, GC pauses) at a fixed open-loop rate for a cached product
 * GET, a cached list page and a 304, alternated rounds. Bar: product GET ≤ 1.25× bare's CPU.
 */
export const hotRead: Scenario = {
  description: 'GET /api/v1/products/:id cached (Zipf 1.0), a list page and a 304 on the monolith vs bare Fastify serving the same bytes: CPU µs/request (bar ≤ 1.25×) and throughput',
  async run(options, context) {
    const { ids, lists, etags, targets, alone, flags } = await prepare(options, context);
    const productPaths = createZipfSequence(ids, options.seed);
    const workload = () => {
      const next = productPaths();
      return () => productPath(next());
    };
    const closed = await closedLoopRounds(options, targets, workload, context.log);
    const open = await openLoopPhase(options, targets, workload, context.log);
    const listSequence = createZipfSequence(lists, options.seed);
    const kinds: CpuKind[] = [
      { name: CPU_KINDS.product, requests: () => { const next = workload(); return () => ({ method: 'GET', path: next() }); } },
      { name: CPU_KINDS.list, share: LIST_SHARE, requests: () => { const next = listSequence(); return () => ({ method: 'GET', path: next() }); } },
      {
        name: CPU_KINDS.notModified,
        okStatus: 304,
        requests: () => {
          const next = productPaths();
          return () => {
            const id = next();
            return { method: 'GET', path: productPath(id), headers: { 'if-none-match': etags[id]! } };
          };
        },
      },
    ];
    const before = await readWorkCounters(targets[0].origin);
    // The product GET, the bar's read, is measured on Scalemart's HTTP app alone too.
    const [product, ...others] = kinds;
    const cpu = await cpuRounds(options, [...targets, alone], [product!], context.log);
    for (const [kind, byTarget] of await cpuRounds(options, targets, others, context.log)) cpu.set(kind, byTarget);
    const cpuWork = workBetween(before, await readWorkCounters(targets[0].origin));
    const measurements: HotReadMeasurements = { options, catalogSize: ids.length, listPages: lists.length, zipfExponent: ZIPF_EXPONENT, scalemartFlags: flags, closed, open, cpu, cpuWork };
    return hotReadReport(measurements, context.out);
  },
};
