import path from 'node:path';
import { runClosedLoop, type ClosedLoopResult } from '../drivers/closed-loop.ts';
import { runOpenLoop, type OpenLoopResult } from '../drivers/open-loop.ts';
import { assertSameBodies, startBareFastify } from '../targets/bare-fastify.ts';
import { LAB_ENV, listProductIds, productPath, scalemartFlags, seedScalemart, snapshotProducts, startScalemart } from '../targets/scalemart.ts';
import type { Target } from '../targets/target.ts';
import { createRandom, createZipf, seededShuffle } from '../workload/zipf.ts';
import { hotReadReport, type HotReadMeasurements } from './hot-read-report.ts';
import type { LabOptions, Scenario, ScenarioContext } from './types.ts';

export const ZIPF_EXPONENT = 1.0;

/** A fresh sequence of product paths, the same for every call: Zipf ranks over a seeded order of the catalog. */
function createWorkload(ids: readonly string[], seed: number): () => () => string {
  const paths = seededShuffle(ids, createRandom(seed ^ 0x5eed)).map(productPath);
  return () => {
    const rank = createZipf(paths.length, ZIPF_EXPONENT, createRandom(seed));
    return () => paths[rank()]!;
  };
}

/** Seeds one catalog, starts Scalemart on it, and a bare Fastify serving the very bodies Scalemart serves. */
async function prepare(options: LabOptions, { group, log }: ScenarioContext) {
  const dataDir = await group.tempDir('hot-read-data');
  const env = { ...LAB_ENV, SCALEMART_DATA_DIR: dataDir };
  log(`Seeding ${options.products} products into ${dataDir} …`);
  await seedScalemart(group, env, options.products);
  const scalemart = await startScalemart(group, env);
  const ids = await listProductIds(scalemart.origin);
  if (ids.length === 0) throw new Error('hot-read: the seeded catalog lists no products');
  if (ids.length !== options.products) log(`Note: the catalog lists ${ids.length} products, not ${options.products}.`);
  log(`Scalemart ready on ${scalemart.origin}; copying ${ids.length} product bodies for the bare reference …`);
  const bodies = path.join(await group.tempDir('hot-read-bare'), 'products.json');
  await snapshotProducts(scalemart.origin, ids, bodies);
  const bare = await startBareFastify(group, bodies, productPath(ids[0]!));
  const step = Math.max(1, Math.floor(ids.length / 20));
  await assertSameBodies(scalemart, bare, ids.filter((_, i) => i % step === 0).map(productPath));
  log(`Bare Fastify ready on ${bare.origin}, serving the same bodies.`);
  return { ids, targets: [scalemart, bare] as const, flags: scalemartFlags(env) };
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
 * serving the same JSON from a Map: alternated closed-loop rounds for the throughput ratio (bar:
 * Scalemart ≥ 60 % of bare), then an open-loop phase per target for latency at a fixed rate.
 */
export const hotRead: Scenario = {
  description: 'GET /api/v1/products/:id (Zipf 1.0) on the monolith vs a bare Fastify route serving the same JSON; bar ≥ 60 %',
  async run(options, context) {
    const { ids, targets, flags } = await prepare(options, context);
    const workload = createWorkload(ids, options.seed);
    const closed = await closedLoopRounds(options, targets, workload, context.log);
    const open = await openLoopPhase(options, targets, workload, context.log);
    const measurements: HotReadMeasurements = { options, catalogSize: ids.length, zipfExponent: ZIPF_EXPONENT, scalemartFlags: flags, closed, open };
    return hotReadReport(measurements, context.out);
  },
};
