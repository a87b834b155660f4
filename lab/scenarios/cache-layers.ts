import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { runClosedLoop } from '../drivers/closed-loop.ts';
import type { ProcessGroup } from '../processes.ts';
import { runOpenLoop, type OpenLoopResult } from '../drivers/open-loop.ts';
import { collectSetup, publishReport } from '../report.ts';
import { formatMs, median, percent } from '../stats.ts';
import { assertSameBodies, startBareFastify } from '../targets/bare-fastify.ts';
import { LAB_ENV, scalemartFlags, seedScalemart, snapshotBodies, startScalemart } from '../targets/scalemart.ts';
import { readWorkCounters, workBetween } from '../targets/scalemart-counters.ts';
import type { Target } from '../targets/target.ts';
import { buildCacheLayersReport, MODES, phaseSeconds, type CacheMode, type MeasuredRun } from './cache-layers-report.ts';
import { browseSequence, collectBrowseWorkload, ZIPF_EXPONENT } from './cache-layers-workload.ts';
import type { Scenario } from './types.ts';
import { adminQuery, LAB_POSTGRES_URL } from '../postgres-admin.ts';

const CATALOG = 100_000;
const IDLE_SECONDS = 3;
/**
 * A Redis database of the lab's own (not 0, which tests and dev servers share): it is emptied
 * first, since the L2 keys of list pages name no product and an earlier run's pages would be served.
 */
const REDIS = process.env.LAB_CACHE_REDIS_URL ?? 'redis://127.0.0.1:6379/9';


/** A closed-loop run with no warm-up, and the statements and cache reads the target counted during it. */
async function measure(target: Target, seconds: number, connections: number, paths: () => () => string): Promise<MeasuredRun> {
  const before = await readWorkCounters(target.origin);
  const closed = await runClosedLoop({ origin: target.origin, connections, durationSeconds: seconds, warmupSeconds: 0, paths });
  const work = workBetween(before, await readWorkCounters(target.origin));
  return { closed, work, queriesPerRequest: closed.completed === 0 ? 0 : work.statements / closed.completed };
}

const describeRun = (r: MeasuredRun) =>
  `${Math.round(r.closed.requestsPerSecond)} req/s, ${r.queriesPerRequest.toFixed(3)} queries/request, L1 ${percent(r.work.l1Ratio)}, L2 ${percent(r.work.l2Ratio)}, non-2xx ${r.closed.non2xx}, errors ${r.closed.errors}`;

/**
 * The ceiling of the read path on this machine: bare Fastify answering every path the open loop
 * will send with the body Scalemart served for it (taken from the warm L1 process), and doing
 * nothing else. No cache can answer faster than that, so its p50 bounds what caching can buy.
 */
async function startReference(group: ProcessGroup, warm: Target, paths: () => () => string, requests: number, dir: string, log: (line: string) => void): Promise<Target> {
  const next = paths();
  const urls = [...new Set(Array.from({ length: requests }, next))];
  const file = `${dir}/bodies.json`;
  await snapshotBodies(warm.origin, urls, file);
  const bare = await startBareFastify(group, file, urls[0]!, true);
  await assertSameBodies(warm, bare, urls.slice(0, 50));
  log(`Reference: bare Fastify serving the ${urls.length} distinct paths of the open loop with Scalemart's bodies.`);
  return bare;
}

/**
 * Caching off, L1 only, and L1 + Redis L2: three Scalemart processes on one PostgreSQL database
 * seeded once with 100 000 products and their stock, under the read side of the browse-heavy mix.
 * Cold phase first (fresh processes), then alternated closed-loop rounds (throughput, statements
 * per request counted at the adapter, hits per tier), alternated open-loop rounds at half of the
 * uncached ceiling (p50, p99 without coordinated omission), and a restart of the cached variants
 * (what L2 gives a process whose L1 is empty).
 */
export const cacheLayers: Scenario = {
  description: `caching off vs L1 vs L1 + Redis L2, browse-heavy reads over ${CATALOG} products (Zipf ${ZIPF_EXPONENT.toFixed(1)}); bar: queries/request ≥ 95 % lower, p50 ≥ 10× lower`,
  async run(options, { group, log, out }) {
    const database = `scalemart_lab_${randomBytes(5).toString('hex')}`;
    await adminQuery(`create database ${database}`);
    const redis = new Redis(REDIS, { maxRetriesPerRequest: 1 });
    try {
      await redis.flushdb();
      const url = new URL(LAB_POSTGRES_URL);
      url.pathname = `/${database}`;
      const base = { ...LAB_ENV, DATABASE_URL: url.toString(), REDIS_URL: REDIS };
      const envOf = async (mode: CacheMode) => ({ ...base, CACHE_MODE: mode, SCALEMART_DATA_DIR: await group.tempDir(`layers-${mode}`) });
      log(`Seeding ${CATALOG} products and their stock into ${database} …`);
      await seedScalemart(group, { ...base, SCALEMART_DATA_DIR: await group.tempDir('layers-seed') }, CATALOG);

      const targets = new Map<CacheMode, Target>();
      for (const mode of MODES) targets.set(mode, await startScalemart(group, await envOf(mode), `cache ${mode}`));
      const target = (mode: CacheMode) => targets.get(mode)!;
      log('Listing the catalog through the uncached process …');
      const workload = await collectBrowseWorkload(target('off').origin, options.seed);
      log(`Workload: ${workload.products.length} products, ${workload.categoryPages.length} categories, ${workload.searches.length} search words, each by Zipf ${ZIPF_EXPONENT.toFixed(1)}.`);
      const paths = browseSequence(workload, options.seed);

      const idleStatementsPerSecond = new Map<CacheMode, number>();
      const idleBefore = await Promise.all(MODES.map((mode) => readWorkCounters(target(mode).origin)));
      await sleep(IDLE_SECONDS * 1000);
      for (const [i, mode] of MODES.entries()) {
        idleStatementsPerSecond.set(mode, workBetween(idleBefore[i]!, await readWorkCounters(target(mode).origin)).statements / IDLE_SECONDS);
      }

      const seconds = phaseSeconds(options);
      const cold = new Map<CacheMode, MeasuredRun>();
      for (const mode of MODES) {
        cold.set(mode, await measure(target(mode), seconds, options.connections, paths));
        log(`cold      ${mode.padEnd(5)} ${describeRun(cold.get(mode)!)}`);
      }

      const closed = new Map<CacheMode, MeasuredRun[]>(MODES.map((mode) => [mode, []]));
      for (let round = 1; round <= options.rounds; round++) {
        for (const mode of MODES) {
          // Round 1's warm-up was the cold phase; later rounds warm up after the other variants ran.
          if (round > 1 && options.warmupSeconds > 0) {
            await runClosedLoop({ origin: target(mode).origin, connections: options.connections, durationSeconds: options.warmupSeconds, warmupSeconds: 0, paths });
          }
          const run = await measure(target(mode), options.durationSeconds, options.connections, paths);
          closed.get(mode)!.push(run);
          log(`round ${round}/${options.rounds} ${mode.padEnd(5)} ${describeRun(run)}`);
        }
      }

      // Latency at a rate every variant sustains: half of the uncached ceiling measured just now.
      const rate = Math.max(20, Math.floor(median(closed.get('off')!.map((r) => r.closed.requestsPerSecond)) / 2));
      const bare = await startReference(group, target('l1'), paths, Math.ceil(rate * options.openLoopSeconds), await group.tempDir('layers-bodies'), log);
      const open = new Map<CacheMode, OpenLoopResult[]>(MODES.map((mode) => [mode, []]));
      const reference: OpenLoopResult[] = [];
      for (let round = 1; round <= options.rounds; round++) {
        for (const variant of [...MODES, 'bare'] as const) {
          const next = paths();
          const origin = variant === 'bare' ? bare.origin : target(variant).origin;
          const result = await runOpenLoop({ origin, ratePerSecond: rate, durationSeconds: options.openLoopSeconds, request: () => ({ method: 'GET', path: next() }) });
          (variant === 'bare' ? reference : open.get(variant)!).push(result);
          log(`open ${round}/${options.rounds}  ${variant.padEnd(5)} ${result.sent} sent at ${rate}/s, p50 ${formatMs(result.ms.p50)} ms, p99 ${formatMs(result.ms.p99)} ms, non-2xx ${result.non2xx}, errors ${result.errors}, late ${result.late}`);
        }
      }
      await bare.process.stop();

      const restarted = new Map<CacheMode, MeasuredRun>();
      for (const mode of ['l1', 'l1l2'] as const) {
        await target(mode).process.stop();
        targets.set(mode, await startScalemart(group, await envOf(mode), `cache ${mode} (restarted)`));
        restarted.set(mode, await measure(target(mode), seconds, options.connections, paths));
        log(`restarted ${mode.padEnd(5)} ${describeRun(restarted.get(mode)!)}`);
      }

      const cacheMetrics = (await readWorkCounters(target('l1').origin)).cacheMetrics;
      const setup = collectSetup('monolith processes on one PostgreSQL (+ one Redis for l1l2)', {
        rounds: options.rounds, duration: options.durationSeconds, warmup: options.warmupSeconds, connections: options.connections,
        openSeconds: options.openLoopSeconds, openRate: rate, seed: options.seed, products: CATALOG, zipf: ZIPF_EXPONENT, ...scalemartFlags({ ...base, CACHE_MODE: MODES.join('|') }),
      });
      const { report, barHolds } = buildCacheLayersReport(
        { options, catalogSize: workload.products.length, rate, closed, open, reference, cold, restarted, idleStatementsPerSecond, cacheMetrics },
        setup,
      );
      return { barHolds, reportPaths: await publishReport(report, out) };
    } finally {
      redis.disconnect();
      // The servers hold connections to the database: stop them before dropping it.
      await group.stopAll();
      await adminQuery(`drop database if exists ${database} with (force)`).catch(() => undefined);
    }
  },
};
