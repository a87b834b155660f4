import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runClosedLoop, type ClosedLoopResult } from '../drivers/closed-loop.ts';
import { runOpenLoop, type OpenLoopResult } from '../drivers/open-loop.ts';
import { labDataDir, run, startScalemart, startService, type Service } from '../processes.ts';
import { median, range, writeReport } from '../report.ts';
import { createRandom, createZipf } from '../workload/zipf.ts';
import type { ScenarioOptions } from './index.ts';

const BAR = 0.6;

async function productIds(origin: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page = (await (await fetch(`${origin}/api/v1/products?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).json()) as { items: { id: string }[]; nextCursor: string | null };
    ids.push(...page.items.map((p) => p.id));
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

/** The exact bodies Scalemart serves, for the bare reference to serve too. */
async function snapshotBodies(origin: string, ids: string[], file: string): Promise<void> {
  const bodies: Record<string, unknown> = {};
  for (let i = 0; i < ids.length; i += 50) {
    await Promise.all(ids.slice(i, i + 50).map(async (id) => (bodies[id] = await (await fetch(`${origin}/api/v1/products/${id}`)).json())));
  }
  await writeFile(file, JSON.stringify(bodies));
}

/**
 * GET /api/v1/products/:id on the monolith, Zipf 1.0 over the catalog, against a bare Fastify
 * route serving the same JSON: alternated rounds of closed-loop throughput, then open-loop latency.
 */
export async function hotRead(options: ScenarioOptions): Promise<boolean> {
  const dataDir = await labDataDir('hot-read');
  process.stdout.write(`Seeding ${options.products} products into ${dataDir}…\n`);
  await run(['src/app/cli.ts', 'seed', '--products', String(options.products), '--users', '0'], { SCALEMART_DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  const services: Service[] = [];
  try {
    const scalemart = await startScalemart({ SCALEMART_DATA_DIR: dataDir, SEED_DEMO_PRODUCTS: '0', RATE_LIMIT_POINTS: '1000000000' });
    services.push(scalemart);
    const ids = await productIds(scalemart.origin);
    const bodies = path.join(dataDir, 'products.json');
    await snapshotBodies(scalemart.origin, ids, bodies);
    const bare = await startService(['lab/references/bare-fastify.ts', bodies], {}, /listening on (http:\/\/\S+)/);
    services.push(bare);
    const targets = [{ name: 'scalemart', service: scalemart }, { name: 'bare fastify', service: bare }];

    const loop = (service: Service, seconds: number) => {
      const zipf = createZipf(ids.length, 1.0, createRandom(42));
      return runClosedLoop({ url: service.origin, connections: options.connections, durationSeconds: seconds, nextPath: () => `/api/v1/products/${ids[zipf()]}` });
    };
    const rounds: Record<string, ClosedLoopResult[]> = { scalemart: [], 'bare fastify': [] };
    for (const target of targets) await loop(target.service, options.warmupSeconds); // warm-up, not counted
    for (let round = 1; round <= options.rounds; round++) {
      // A B, then B A: neither side always runs on a warmer machine.
      for (const target of round % 2 ? targets : [...targets].reverse()) {
        const result = await loop(target.service, options.durationSeconds);
        rounds[target.name]!.push(result);
        process.stdout.write(`round ${round} ${target.name}: ${Math.round(result.requestsPerSecond)} req/s\n`);
      }
    }
    const latency: Record<string, OpenLoopResult> = {};
    for (const target of targets) {
      const zipf = createZipf(ids.length, 1.0, createRandom(7));
      latency[target.name] = await runOpenLoop({ origin: target.service.origin, ratePerSecond: options.rate, durationSeconds: 5, request: () => ({ method: 'GET', path: `/api/v1/products/${ids[zipf()]}` }) });
    }

    const ratios = rounds.scalemart!.map((r, i) => r.requestsPerSecond / rounds['bare fastify']![i]!.requestsPerSecond);
    const ratio = median(ratios);
    await writeReport({
      scenario: 'hot-read',
      setup: { stage: 'monolith', products: ids.length, zipf: 1.0, connections: options.connections, seconds: options.durationSeconds, rounds: options.rounds, openLoopRate: options.rate, cache: 'l1' },
      columns: ['target', 'req/s (median)', 'req/s (range)', 'closed p50 ms', 'closed p99 ms', 'non-2xx', `open-loop ${options.rate}/s p50 ms`, 'p99 ms', 'p99.9 ms', 'late sends'],
      rows: targets.map(({ name }) => {
        const results = rounds[name]!;
        const open = latency[name]!;
        return [name, Math.round(median(results.map((r) => r.requestsPerSecond))), range(results.map((r) => r.requestsPerSecond)),
          median(results.map((r) => r.p50Ms)), median(results.map((r) => r.p99Ms)), results.reduce((n, r) => n + r.non2xx + r.errors, 0) + open.non2xx + open.errors,
          open.ms.p50.toFixed(2), open.ms.p99.toFixed(2), open.ms.p999.toFixed(2), open.late];
      }),
      verdict: [
        `Scalemart / bare Fastify throughput: ${(ratio * 100).toFixed(1)} % (median of per-round ratios, range ${range(ratios.map((r) => r * 100), 1)} %).`,
        `Bar ≥ ${BAR * 100} %: ${ratio >= BAR ? 'holds' : 'NOT MET'}.`,
      ],
      raw: { rounds, latency, ratios },
    });
    return ratio >= BAR;
  } finally {
    await Promise.all(services.map((s) => s.stop()));
  }
}
