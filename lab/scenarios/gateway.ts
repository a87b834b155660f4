import { runClosedLoop } from '../drivers/closed-loop.ts';
import { runOpenLoop, type OpenLoopResult } from '../drivers/open-loop.ts';
import { sampleCpu } from '../drivers/process-cpu.ts';
import { startDelayUpstream, startFastifyHttpProxy, startNginxProxy } from '../targets/proxies.ts';
import { LAB_ENV, listProductIds, productPath, scalemartFlags, seedScalemart, startScalemart } from '../targets/scalemart.ts';
import type { Target } from '../targets/target.ts';
import { createRandom, createZipf, seededShuffle } from '../workload/zipf.ts';
import { labAuthorization, LAB_SECRETS, startGateway, type GatewayStrategy } from './gateway-launch.ts';
import { BALANCING, DIRECT, FASTIFY_PROXY, gatewayReport, NGINX, SCALEMART_GATEWAY, SLOW_MS, type BalancingRow, type GatewayMeasurements, type HopRound } from './gateway-report.ts';
import type { Scenario, ScenarioContext } from './types.ts';

const WARMUP_SECONDS = 2;

/** A way to reach the upstream: its target, and the proxy process whose CPU is counted (none for direct). */
interface Hop {
  name: string;
  target: Target;
  proxyPid?: number;
}

function zipfPaths(ids: readonly string[], seed: number): () => () => string {
  const ordered = seededShuffle(ids, createRandom(seed ^ 0x5eed));
  return () => {
    const rank = createZipf(ordered.length, 1.0, createRandom(seed));
    return () => productPath(ordered[rank()]!);
  };
}

/** One open-loop run at `rate` through a hop, with the proxy's CPU (all threads, from /proc) over it. */
async function measure(hop: Hop, rate: number, seconds: number, paths: () => () => string, headers: Record<string, string>): Promise<HopRound> {
  const next = paths();
  const before = hop.proxyPid === undefined ? undefined : sampleCpu(hop.proxyPid);
  const open = await runOpenLoop({ origin: hop.target.origin, ratePerSecond: rate, durationSeconds: seconds, request: () => ({ method: 'GET', path: next(), headers }) });
  const cpuNs = before === undefined ? null : sampleCpu(hop.proxyPid!).totalNs - before.totalNs;
  return { open, cpuNs };
}

/** GETs every product once (16 at a time): afterwards the instance's L1 holds the whole catalog. */
async function warmEveryProduct(origin: string, ids: readonly string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const path = productPath(ids[next++]!);
      const response = await fetch(`${origin}${path}`);
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`gateway lab: warming ${path} got HTTP ${response.status}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function sameAnswer(hops: readonly Hop[], path: string, headers: Record<string, string>): Promise<void> {
  const bodies = await Promise.all(hops.map(async (hop) => {
    const response = await fetch(`${hop.target.origin}${path}`, { headers });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`gateway lab: ${hop.name} answered ${path} with HTTP ${response.status}: ${text.slice(0, 200)}`);
    return text;
  }));
  const differing = hops.filter((_, i) => bodies[i] !== bodies[0]).map((h) => h.name);
  if (differing.length > 0) throw new Error(`gateway lab: ${differing.join(', ')} answered ${path} differently from ${hops[0]!.name}`);
}

/**
 * The balancing table: three instances (plain node:http, lab/references/delay-upstream.ts), the
 * third answering SLOW_MS late, behind each balancer and strategy in turn, alternated rounds at
 * half the fixed rate. The share of requests the slow instance served is read from it.
 */
async function balancingRounds(context: ScenarioContext, rate: number, seconds: number, rounds: number) {
  const { group, log } = context;
  const instances = [await startDelayUpstream(group, 'instance-1', 0), await startDelayUpstream(group, 'instance-2', 0), await startDelayUpstream(group, 'instance-3-slow', SLOW_MS)];
  const urls = instances.map((i) => i.origin);
  const slow = instances[2]!.origin;
  const rows: BalancingRow[] = [];
  const balancers: { row: BalancingRow; target: Target | undefined }[] = [];
  for (const spec of BALANCING) {
    const row: BalancingRow = { balancer: spec.balancer, strategy: spec.strategy, weights: spec.weights, open: [], slowShare: [] };
    rows.push(row);
    let target: Target | string;
    if (spec.balancer === NGINX) {
      target = await startNginxProxy(group, { name: `nginx ${spec.strategy}`, upstreams: urls, balance: spec.strategy === 'least-request' ? 'least-conn' : 'round-robin', weights: spec.weights });
    } else {
      target = await startGateway(group, `gateway ${spec.strategy}`, urls, spec.strategy satisfies GatewayStrategy, spec.weights);
    }
    if (typeof target === 'string') {
      row.skipped = target;
      log(`balancing: ${spec.balancer} ${spec.strategy} skipped: ${target}`);
    }
    balancers.push({ row, target: typeof target === 'string' ? undefined : target });
  }
  const served = async () => Number(await (await fetch(`${slow}/_served`)).text());
  for (let round = 0; round <= rounds; round++) {
    for (const { row, target } of balancers) {
      if (!target) continue;
      const before = await served();
      const open = await runOpenLoop({ origin: target.origin, ratePerSecond: rate, durationSeconds: round === 0 ? WARMUP_SECONDS : seconds, request: () => ({ method: 'GET', path: '/api/v1/products/p-1' }) });
      if (round === 0) continue; // warm-up, not counted
      row.open.push(open);
      row.slowShare.push((await served() - before) / Math.max(1, open.sent));
      log(`balancing round ${round}/${rounds} ${`${row.balancer} ${row.strategy}`.padEnd(34)} p50 ${open.ms.p50.toFixed(2)} ms, p99 ${open.ms.p99.toFixed(2)} ms, slow share ${(row.slowShare.at(-1)! * 100).toFixed(1)} %`);
    }
  }
  for (const { target } of balancers) await target?.process.stop();
  for (const instance of instances) await instance.process.stop();
  return { rate, rows };
}

/**
 * One Scalemart monolith serving cached product GETs (Zipf 1.0), reached directly, through nginx
 * (keep-alive, no cache), through @fastify/http-proxy and through the Scalemart gateway (auth and
 * shared limits on), alternated rounds. Per hop: requests per proxy CPU-second and the added
 * p50/p99 against direct at one open-loop rate; each proxy's ceiling (closed loop) and its added
 * p50 at half of it. Then the balancing table. A hop that cannot run is skipped with its reason.
 */
export const gateway: Scenario = {
  description: 'one upstream reached directly, via nginx, @fastify/http-proxy and the Scalemart gateway: requests per proxy CPU-second, added p50/p99, p50 at half ceiling; balancing with one slow instance',
  async run(options, context) {
    const { group, log } = context;
    const dataDir = await group.tempDir('gateway-data');
    // A TTL longer than the run: entries expiring mid-run would add reloads to whichever hop is measured then.
    const env = { ...LAB_ENV, ...LAB_SECRETS, CACHE_TTL_SECONDS: '3600', SCALEMART_DATA_DIR: dataDir };
    log(`Seeding ${options.products} products into ${dataDir} …`);
    await seedScalemart(group, env, options.products);
    const upstream = await startScalemart(group, env, 'upstream');
    const ids = await listProductIds(upstream.origin);
    if (ids.length === 0) throw new Error('gateway lab: the seeded catalog lists no products');
    const paths = zipfPaths(ids, options.seed);
    log(`Loading all ${ids.length} products once, so no hop pays a cold cache load …`);
    await warmEveryProduct(upstream.origin, ids);
    const headers = await labAuthorization();

    const hops: Hop[] = [{ name: DIRECT, target: upstream }];
    const skipped: Record<string, string> = {};
    const addProxy = (target: Target) => hops.push({ name: target.name, target, proxyPid: target.process.child.pid });
    addProxy(await startNginxProxy(group, { name: NGINX, upstreams: [upstream.origin] }));
    addProxy(await startFastifyHttpProxy(group, FASTIFY_PROXY, upstream.origin, '/readyz'));
    const scalemartGateway = await startGateway(group, SCALEMART_GATEWAY, [upstream.origin]);
    if (typeof scalemartGateway === 'string') {
      skipped[SCALEMART_GATEWAY] = scalemartGateway;
      log(`${SCALEMART_GATEWAY} skipped: ${scalemartGateway}`);
    } else addProxy(scalemartGateway);
    await sameAnswer(hops, productPath(ids[0]!), headers);
    log(`Hops ready: ${hops.map((h) => `${h.name} ${h.target.origin}`).join(', ')}`);

    for (const hop of hops) await measure(hop, options.rate, WARMUP_SECONDS, paths, headers);
    const fixedRate = new Map<string, HopRound[]>(hops.map((h) => [h.name, []]));
    for (let round = 1; round <= options.rounds; round++) {
      for (const hop of hops) {
        const result = await measure(hop, options.rate, options.openLoopSeconds, paths, headers);
        fixedRate.get(hop.name)!.push(result);
        const cpu = result.cpuNs === null ? '' : `, ${Math.round(result.open.sent / (result.cpuNs / 1e9))} req/CPU-s`;
        log(`round ${round}/${options.rounds} ${hop.name.padEnd(20)} p50 ${result.open.ms.p50.toFixed(2)} ms, p99 ${result.open.ms.p99.toFixed(2)} ms${cpu}, late ${result.open.late}, bad ${result.open.non2xx + result.open.errors}`);
      }
    }

    const ceilings = new Map<string, number[]>(hops.map((h) => [h.name, []]));
    for (let round = 1; round <= options.rounds; round++) {
      for (const hop of hops) {
        const result = await runClosedLoop({ origin: hop.target.origin, connections: options.connections, durationSeconds: options.durationSeconds, warmupSeconds: options.warmupSeconds, paths, headers });
        ceilings.get(hop.name)!.push(result.requestsPerSecond);
        log(`ceiling round ${round}/${options.rounds} ${hop.name.padEnd(20)} ${Math.round(result.requestsPerSecond)} req/s, non-2xx ${result.non2xx}, errors ${result.errors}`);
      }
    }

    // Each proxy at half its own ceiling, paired with direct at that same rate, alternated.
    const halfCeiling = new Map<string, { rate: number; hop: OpenLoopResult[]; direct: OpenLoopResult[] }>();
    for (const hop of hops.slice(1)) {
      const sorted = [...ceilings.get(hop.name)!].sort((a, b) => a - b);
      const rate = Math.max(1, Math.round(sorted[sorted.length >> 1]! / 2));
      const entry = { rate, hop: [] as OpenLoopResult[], direct: [] as OpenLoopResult[] };
      halfCeiling.set(hop.name, entry);
      for (let round = 1; round <= options.rounds; round++) {
        entry.hop.push((await measure(hop, rate, options.openLoopSeconds, paths, headers)).open);
        entry.direct.push((await measure(hops[0]!, rate, options.openLoopSeconds, paths, headers)).open);
        log(`half ceiling round ${round}/${options.rounds} ${hop.name.padEnd(20)} at ${rate} req/s: p50 ${entry.hop.at(-1)!.ms.p50.toFixed(2)} ms, direct ${entry.direct.at(-1)!.ms.p50.toFixed(2)} ms`);
      }
    }

    for (const hop of hops.slice(1)) await hop.target.process.stop();
    const balancing = await balancingRounds(context, Math.max(1, Math.round(options.rate / 2)), options.openLoopSeconds, options.rounds);
    const measurements: GatewayMeasurements = {
      options,
      catalogSize: ids.length,
      hops: [DIRECT, NGINX, FASTIFY_PROXY, SCALEMART_GATEWAY],
      skipped,
      fixedRate,
      ceilings,
      halfCeiling,
      balancing,
      scalemartFlags: scalemartFlags(env),
    };
    return gatewayReport(measurements, context.out);
  },
};
