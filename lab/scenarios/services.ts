import { randomBytes } from 'node:crypto';
import { runClosedLoop, type ClosedLoopRequest } from '../drivers/closed-loop.ts';
import { runOpenLoop } from '../drivers/open-loop.ts';
import type { ProcessGroup } from '../processes.ts';
import { scalemartFlags } from '../targets/scalemart.ts';
import { createRandom, createZipf } from '../workload/zipf.ts';
import { collectBrowseWorkload, ZIPF_EXPONENT, type BrowseWorkload } from './cache-layers-workload.ts';
import { cpuByPidSince, cpuSince, snapshotCpu } from '../drivers/process-cpu.ts';
import { answered, seedTemplate, startFleet, startLabRedis, untilQuiet, type FleetSpec, type LabFleet } from './services-fleet.ts';
import { servicesReport, type ClosedRound, type FleetInfo, type OpenRound } from './services-report.ts';
import { mixSequence, signUpCustomers, type Customer } from './services-workload.ts';
import type { LabOptions, Scenario, ScenarioContext } from './types.ts';

/** Ports of the run (below the ephemeral range, as the fleet requires): a fleet per block of 10, Redis after. */
const PORT_BASE = 26_500;
const REDIS_PORT = PORT_BASE + 90;
/** The hop's open-loop rate: low enough that neither fleet queues on two cores, so the difference is the call's own time. */
const HOP_RATE = 200;
const HOP_ROUND_FACTOR = 2;
/**
 * The spike's open-loop rate, as a share of catalog ×1's median ceiling: a third, so that on a
 * shared machine both fleets usually keep up and p99 compares service, not a queue growing for
 * the whole run (at half, runs queued for seconds while other work shared the cores).
 */
const SPIKE_SHARE = 1 / 3;
const CUSTOMERS = 20;
/** Product GETs sent one at a time to count the internal calls each makes (the inventory route's answers). */
const PROBE_GETS = 50;
const GET_STOCK_ROUTE = 'inventory/getStock"';
const IDLE_SECONDS = 3;
/** How long a fleet may take to go quiet after start-up, and after a run (see untilQuiet). */
const START_QUIET_MS = 90_000;
const RUN_QUIET_MS = 15_000;

const ORDERS = ['orders', 'payments', 'shipping', 'notifications'];
const serviceGroups = (catalogs: number) => [
  { name: 'identity', modules: ['identity'], instances: 1 },
  { name: 'catalog', modules: ['catalog'], instances: catalogs },
  { name: 'inventory', modules: ['inventory'], instances: 1 },
  { name: 'orders', modules: ORDERS, instances: 1 },
];
const FLEETS = {
  all: { key: 'all', groups: [{ name: 'all', instances: 2 }], portBase: PORT_BASE, redisDb: 1 },
  services: { key: 'services', groups: serviceGroups(2), portBase: PORT_BASE + 10, redisDb: 2 },
  catalog1: { key: 'catalog1', groups: serviceGroups(1), portBase: PORT_BASE + 20, redisDb: 3 },
  catalog3: { key: 'catalog3', groups: serviceGroups(3), portBase: PORT_BASE + 30, redisDb: 4 },
} satisfies Record<string, FleetSpec>;
const LABELS: Record<string, string> = {
  all: 'all-modules ×2',
  services: 'services (catalog ×2)',
  catalog1: 'services, catalog ×1',
  catalog3: 'services, catalog ×3',
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Zipf(1.0) product pages, the same sequence on every call. */
const productPaths = (workload: BrowseWorkload, seed: number) => () => {
  const rank = createZipf(workload.products.length, ZIPF_EXPONENT, createRandom(seed));
  return () => workload.products[rank()]!;
};

/** A closed-loop run after its uncounted warm-up, with the fleet's CPU over the measured part only. */
async function closedRound(fleet: LabFleet, options: LabOptions, paths: () => () => string | ClosedLoopRequest): Promise<ClosedRound> {
  const base = { origin: fleet.origin, connections: options.connections, paths, warmupSeconds: 0 };
  if (options.warmupSeconds > 0) await runClosedLoop({ ...base, durationSeconds: options.warmupSeconds });
  const [before, dbBefore] = [snapshotCpu(await fleet.pids()), snapshotCpu(await fleet.databasePids())];
  const closed = await runClosedLoop({ ...base, durationSeconds: options.durationSeconds });
  return { closed, cpuNs: cpuSince(before, await fleet.pids()), dbCpuNs: cpuSince(dbBefore, await fleet.databasePids()) };
}

async function openRound(fleet: LabFleet, rate: number, seconds: number, paths: () => () => string): Promise<OpenRound> {
  const next = paths();
  const [before, dbBefore] = [snapshotCpu(await fleet.pids()), snapshotCpu(await fleet.databasePids())];
  const open = await runOpenLoop({ origin: fleet.origin, ratePerSecond: rate, durationSeconds: seconds, request: () => ({ method: 'GET', path: next() }) });
  const [names, byPid] = [await fleet.names(), cpuByPidSince(before, await fleet.pids())];
  const cpuByProcess = Object.fromEntries([...byPid].map(([pid, ns]) => [names.get(pid) ?? String(pid), ns]));
  return { open, cpuNs: [...byPid.values()].reduce((a, b) => a + b, 0), dbCpuNs: cpuSince(dbBefore, await fleet.databasePids()), cpuByProcess };
}

/** Alternated rounds (A B, then B A, …) of `measure` on two fleets, each round logged. */
async function alternate<R>(context: ScenarioContext, name: string, rounds: number, fleets: readonly LabFleet[], measure: (fleet: LabFleet) => Promise<R>, describe: (r: R) => string) {
  const results = new Map<string, R[]>(fleets.map((f) => [f.key, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const fleet of round % 2 ? fleets : [...fleets].reverse()) {
      // Both, so the other fleet's leftover work (order sagas, consumers) does not land in this run.
      for (const each of fleets) await quiet(context, each, RUN_QUIET_MS);
      const result = await measure(fleet);
      results.get(fleet.key)!.push(result);
      context.log(`${name} round ${round}/${rounds} ${fleet.key.padEnd(9)} ${describe(result)}`);
    }
  }
  return results;
}

/** getStock calls answered per product GET, on every instance of the fleet: 1 in services, 0 in all-modules. */
async function internalCallsPerGet(fleet: LabFleet, spec: FleetSpec, workload: BrowseWorkload): Promise<number> {
  const ports = (await Promise.all(spec.groups.map((g) => fleet.ports(g.name)))).flat();
  const before = await answered(ports, GET_STOCK_ROUTE);
  for (let i = 0; i < PROBE_GETS; i++) {
    const response = await fetch(`${fleet.origin}${workload.products[i % workload.products.length]!}`);
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`services lab: product GET through ${fleet.key} answered HTTP ${response.status}`);
  }
  await sleep(200); // an instance counts a request once its answer is written
  return ((await answered(ports, GET_STOCK_ROUTE)) - before) / PROBE_GETS;
}

async function quiet(context: ScenarioContext, fleet: LabFleet, timeoutMs: number): Promise<void> {
  const started = performance.now();
  const { msPerSecond, quiet } = await untilQuiet(fleet, timeoutMs);
  const waited = (performance.now() - started) / 1000;
  if (!quiet || waited > 2) context.log(`${fleet.key}: ${quiet ? 'quiet' : 'still busy'} after ${waited.toFixed(0)} s (${Math.round(msPerSecond)} ms CPU/s)`);
}

async function describeFleet(context: ScenarioContext, fleet: LabFleet): Promise<FleetInfo> {
  await quiet(context, fleet, START_QUIET_MS);
  const before = snapshotCpu(await fleet.pids());
  await sleep(IDLE_SECONDS * 1000);
  return { key: fleet.key, label: LABELS[fleet.key]!, processes: fleet.processCount, idleCpuMsPerSecond: cpuSince(before, await fleet.pids()) / 1e6 / IDLE_SECONDS, restarts: [] };
}

/** ` (504 ×3, timeouts ×2)`: what the failures of a closed-loop run were, when it had any. */
function failures(r: ClosedRound): string {
  const statuses = Object.entries(r.closed.statusCodes ?? {}).filter(([status]) => !status.startsWith('2')).map(([status, n]) => `${status} ×${n}`);
  const parts = [...statuses, ...(r.closed.timeouts ? [`timeouts ×${r.closed.timeouts}`] : [])];
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

const closedText = (r: ClosedRound) => `${Math.round(r.closed.requestsPerSecond)} req/s, p99 ${r.closed.p99Ms} ms, ${Math.round(r.cpuNs / 1000 / Math.max(1, r.closed.completed))} µs CPU/req (+${Math.round(r.dbCpuNs / 1000 / Math.max(1, r.closed.completed))} db), failed ${r.closed.non2xx + r.closed.errors}${failures(r)}`;
const openText = (r: OpenRound) => `p50 ${r.open.ms.p50.toFixed(2)} ms, p99 ${r.open.ms.p99.toFixed(2)} ms, ${Math.round(r.cpuNs / 1000 / Math.max(1, r.open.sent))} µs CPU/req (+${Math.round(r.dbCpuNs / 1000 / Math.max(1, r.open.sent))} db), late ${r.open.late}, failed ${r.open.non2xx + r.open.errors}`;

async function startPair(group: ProcessGroup, specs: readonly FleetSpec[], template: string, redisUrl: string, log: (line: string) => void): Promise<LabFleet[]> {
  const fleets: LabFleet[] = [];
  for (const spec of specs) fleets.push(await startFleet(group, spec, template, redisUrl, log));
  return fleets;
}

/**
 * Issue 12: the same module code as one process with every module vs as service processes, on
 * one machine, every fleet behind one Scalemart gateway, in the scaled stage (events on a private
 * JetStream per fleet, a private Redis), each on its own copy of one seeded PostgreSQL database.
 *
 * - **all-modules**: 2 instances of role all.
 * - **services**: identity; catalog ×2; inventory; orders with payments, shipping and
 *   notifications. Not the shipped grouping (deploy/topology.services.json), which runs inventory
 *   beside catalog, so a product read never leaves its process and the hop the issue asks about
 *   would not be measured. Split this way, every catalog read makes its inventory call over HTTP
 *   (a product GET exactly one: `inventory.getStock`), and orders keeps its saga's in-process
 *   partners as shipped.
 *
 * Caching is off in every fleet (CACHE_MODE=off): with a warm cache a read makes no internal call
 * in either fleet, and the comparison would measure the gateway's routing only. So these are the
 * split's worst case; with caches on it pays the hop on misses only.
 *
 * Measures, each alternated: the browse-and-order mix, closed loop over `--rounds` (throughput,
 * p99, CPU per request of the fleet and of its database's backends); the hop, an uncached product
 * GET at a fixed open-loop rate over twice `--rounds` (added p50 and CPU per request over the
 * in-process call); and independent scaling, a product-GET spike against services with catalog ×3
 * vs catalog ×1 (identity, inventory, orders ×1 each; not the same process count: the two extra
 * catalog instances are what is bought), its ceiling and p99 at a third of catalog ×1's ceiling. The
 * first two fleets are stopped before the other two start. Every process, the database, brokers
 * and the generator share the machine's cores; the report says what that can and cannot show.
 * About 9 minutes by default.
 */
export const services: Scenario = {
  description: 'browse-and-order mix on all-modules vs service fleets (same cores), the cost of one process hop, and catalog ×3 vs ×1 against a browse spike',
  async run(options, context) {
    const { group, log } = context;
    const stamp = `${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`;
    const redisUrl = await startLabRedis(group, REDIS_PORT);
    log(`Seeding ${options.products} products into a template database …`);
    const template = await seedTemplate(group, stamp, options.products);

    const [all, split] = await startPair(group, [FLEETS.all, FLEETS.services], template, redisUrl, log);
    const workload = await collectBrowseWorkload(all!.origin, options.seed);
    log(`Catalog: ${workload.products.length} products; signing up ${CUSTOMERS} customers per fleet …`);
    const customers = new Map<string, Customer[]>();
    for (const fleet of [all!, split!]) customers.set(fleet.key, await signUpCustomers(fleet.origin, CUSTOMERS, `lab-${stamp}`));

    const products = productPaths(workload, options.seed);
    const infos = [await describeFleet(context, all!), await describeFleet(context, split!)];

    const pair = [all!, split!];
    // One sequence maker per fleet, so its Idempotency-Key counter runs on across rounds: a key
    // reused in a later round would replay the earlier order (or be refused) instead of placing one.
    const mixes = new Map(pair.map((f) => [f.key, mixSequence(workload, customers.get(f.key)!, options.seed, `${stamp}-${f.key}`)]));
    const callsPerGet = { [all!.key]: await internalCallsPerGet(all!, FLEETS.all, workload), [split!.key]: await internalCallsPerGet(split!, FLEETS.services, workload) };
    log(`getStock calls per product GET: ${JSON.stringify(callsPerGet)}`);
    for (const fleet of pair) await openRound(fleet, HOP_RATE, 2, products); // JIT and pools, not counted
    const mix = await alternate(context, 'mix', options.rounds, pair, (f) => closedRound(f, options, mixes.get(f.key)!), closedText);
    // Twice the rounds: short open-loop runs on a shared machine, the noisiest figure here.
    const hop = await alternate(context, 'hop', HOP_ROUND_FACTOR * options.rounds, pair, (f) => openRound(f, HOP_RATE, options.openLoopSeconds, products), openText);
    for (const [i, fleet] of pair.entries()) infos[i]!.restarts = await fleet.restarts();
    for (const fleet of pair) await fleet.stop();

    const [one, three] = await startPair(group, [FLEETS.catalog1, FLEETS.catalog3], template, redisUrl, log);
    infos.push(await describeFleet(context, one!), await describeFleet(context, three!));
    const spikePair = [one!, three!];
    const spike = await alternate(context, 'spike', options.rounds, spikePair, (f) => closedRound(f, options, products), closedText);
    const ceilings = [...spike.get(one!.key)!].map((r) => r.closed.requestsPerSecond).sort((a, b) => a - b);
    const spikeRate = Math.max(1, Math.round(ceilings[ceilings.length >> 1]! * SPIKE_SHARE));
    for (const fleet of spikePair) await openRound(fleet, spikeRate, 2, products);
    const spikeOpen = await alternate(context, `spike @${spikeRate}/s`, options.rounds, spikePair, (f) => openRound(f, spikeRate, options.openLoopSeconds, products), openText);
    for (const [i, fleet] of spikePair.entries()) infos[2 + i]!.restarts = await fleet.restarts();

    return servicesReport({
      options,
      catalogSize: workload.products.length,
      fleets: infos,
      mix: { reference: all!.key, other: split!.key, rounds: mix },
      hop: { reference: all!.key, other: split!.key, rounds: hop, rate: HOP_RATE, callsPerGet },
      spike: { reference: one!.key, other: three!.key, rounds: spike },
      spikeOpen: { reference: one!.key, other: three!.key, rounds: spikeOpen, rate: spikeRate },
      scalemartFlags: scalemartFlags({ CACHE_MODE: 'off', SCALEMART_STAGE: 'scaled', LOG_LEVEL: 'warn' }),
    }, context.out);
  },
};
