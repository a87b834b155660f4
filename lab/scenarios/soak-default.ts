import { readdirSync, readFileSync } from 'node:fs';
import { runOpenLoop, type OpenLoopResult } from '../drivers/open-loop.ts';
import { collectSetup, publishReport, type Cell } from '../report.ts';
import { LAB_ENV, listProductIds, productPath, seedScalemart, startScalemart } from '../targets/scalemart.ts';
import { createRandom, createZipf } from '../workload/zipf.ts';
import type { Scenario } from './types.ts';

const ADMIN = { email: 'lab-admin@scalemart.local', password: 'lab-admin-password' };
const ADDRESS = { name: 'Soak', line1: '1 Long Road', city: 'Berlin', postalCode: '10115', country: 'DE' };
/** SOAK_SECONDS=N soaks longer (a bounded cache that is still filling looks like growth in five minutes). */
const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const RATE = 150;
const SAMPLE_MS = 15_000;
const GOAL_MIB = 400;
/**
 * The Node flags `npm start` gives the default deployment (package.json), so the soak measures what
 * a shop runs; PGlite, the old default, runs as `npm start` ran it before: without them.
 */
function npmStartNodeFlags(): string {
  const scripts = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts;
  return scripts.start.split(' ').filter((word) => word.startsWith('--')).join(' ');
}
const ENGINES = [
  { name: 'default (embedded PostgreSQL)', url: '', nodeOptions: npmStartNodeFlags() },
  { name: 'PGlite on disk (the old default)', url: 'pglite://', nodeOptions: '' },
] as const;

/** Every process below `root` (the Node process, its supervisor shell, the postmaster and its backends). */
function tree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone between readdir and read
    }
  }
  const all: number[] = [];
  const walk = (pid: number) => {
    all.push(pid);
    for (const child of children.get(pid) ?? []) walk(child);
  };
  walk(root);
  return all;
}

/** kB of a field in /proc/<pid>/smaps_rollup; 0 when the process is gone. */
function rollup(pid: number, field: 'Rss' | 'Pss'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

interface Sample {
  second: number;
  /** The Node process's resident set, MiB. */
  nodeRss: number;
  /** Proportional set size of everything else below it (the database server), MiB: shared buffers counted once. */
  databasePss: number;
  /**
   * Node's RSS plus the database's PSS: what the deployment costs the host. Node's own PSS would
   * change whenever another Node process on the host starts or exits (they share the binary's pages).
   */
  total: number;
}

function sample(root: number, second: number): Sample {
  const pids = tree(root);
  const mib = (kb: number) => Math.round(kb / 1024);
  const nodeRss = rollup(root, 'Rss');
  const databasePss = pids.slice(1).reduce((sum, pid) => sum + rollup(pid, 'Pss'), 0);
  return { second, nodeRss: mib(nodeRss), databasePss: mib(databasePss), total: mib(nodeRss + databasePss) };
}

/**
 * Memory flat: the last minute's mean within 10 % of the third minute's. The first two minutes are
 * warm-up, in which bounded caches fill: PostgreSQL's 32 MB of shared buffers count as each page
 * is first touched, and the L1 cache fills up to its item limit.
 */
function flat(samples: Sample[]): boolean {
  const mean = (from: number, to: number) => {
    const window = samples.filter((s) => s.second > from && s.second <= to);
    return window.reduce((sum, s) => sum + s.total, 0) / Math.max(1, window.length);
  };
  return mean(SOAK_SECONDS - 60, SOAK_SECONDS) <= mean(120, 180) * 1.1;
}

/**
 * Five minutes of mixed load at 150 req/s on the default deployment (85 % product reads over a
 * Zipf popularity, 10 % list pages, 5 % orders), memory sampled every 15 s, then the same on
 * PGlite. Bar: 0 errors and flat memory on the default; goal: under 400 MiB for the whole
 * deployment, Node and database together.
 */
export const soakDefault: Scenario = {
  description: `${SOAK_SECONDS / 60} min of mixed load at ${RATE} req/s on the default deployment, memory every ${SAMPLE_MS / 1000} s; bar: 0 errors, flat memory (goal < ${GOAL_MIB} MiB)`,
  async run(options, { group, log, out }) {
    const results: { engine: string; samples: Sample[]; load: OpenLoopResult }[] = [];
    // SOAK_ENGINES=default soaks only the default.
    const engines = process.env.SOAK_ENGINES === 'default' ? ENGINES.slice(0, 1) : ENGINES;
    for (const engine of engines) {
      const env = { ...LAB_ENV, NODE_OPTIONS: engine.nodeOptions, SCALEMART_DATA_DIR: await group.tempDir('scalemart-soak-'), DATABASE_URL: engine.url, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password };
      log(`${engine.name}: seeding ${options.products} products`);
      await seedScalemart(group, env, options.products);
      const target = await startScalemart(group, env, engine.name);
      const ids = await listProductIds(target.origin);
      const tokens: string[] = [];
      for (let i = 0; i < 20; i++) {
        const response = await fetch(`${target.origin}/api/v1/auth/signup`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: `soak${i}@example.com`, password: 'soak-password', name: `Soak ${i}`, country: 'DE' }),
        });
        tokens.push(((await response.json()) as { token: string }).token);
      }
      const random = createRandom(options.seed);
      const zipf = createZipf(ids.length, 1.0, random);
      const pid = target.process.child.pid!;
      const samples: Sample[] = [sample(pid, 0)];
      const started = Date.now();
      const timer = setInterval(() => {
        samples.push(sample(pid, Math.round((Date.now() - started) / 1000)));
        log(`${engine.name}: ${JSON.stringify(samples.at(-1))}`);
      }, SAMPLE_MS);
      let load: OpenLoopResult;
      try {
        load = await runOpenLoop({
          origin: target.origin, ratePerSecond: RATE, durationSeconds: SOAK_SECONDS, spin: false,
          request: (i) => {
            const roll = random();
            if (roll < 0.85) return { method: 'GET', path: productPath(ids[zipf()]!) };
            if (roll < 0.95) return { method: 'GET', path: `/api/v1/products?limit=${i % 2 ? 20 : 50}` };
            return {
              method: 'POST', path: '/api/v1/orders',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[i % tokens.length]}`, 'idempotency-key': `soak-${i}` },
              body: JSON.stringify({ items: [{ productId: ids[zipf()]!, quantity: 1 }], shippingAddress: ADDRESS }),
            };
          },
        });
      } finally {
        clearInterval(timer);
      }
      samples.push(sample(pid, SOAK_SECONDS));
      results.push({ engine: engine.name, samples, load });
      await target.process.stop();
    }

    const seconds = results[0]!.samples.map((s) => s.second);
    const table = {
      columns: ['second', ...results.flatMap((r) => [`${r.engine}: Node RSS MiB`, 'database PSS MiB', 'total MiB'])],
      rows: seconds.map((second, i): Cell[] => [second, ...results.flatMap((r): Cell[] => {
        const s = r.samples[i];
        return s ? [s.nodeRss, s.databasePss, s.total] : ['', '', ''];
      })]),
    };
    const verdict = results.map((r) => {
      const peak = Math.max(...r.samples.map((s) => s.total));
      return `${r.engine}: ${r.load.ok} ok, ${r.load.non2xx} non-2xx, ${r.load.errors} errors of ${r.load.scheduled}; p50 ${r.load.ms.p50.toFixed(1)} ms, p99 ${r.load.ms.p99.toFixed(1)} ms; peak ${peak} MiB; memory ${flat(r.samples) ? 'flat' : 'GROWING'}`;
    });
    const primary = results[0]!;
    const peak = Math.max(...primary.samples.map((s) => s.total));
    const barHolds = primary.load.errors === 0 && primary.load.non2xx === 0 && flat(primary.samples);
    verdict.push(`Bar (default: 0 errors, flat memory): ${barHolds ? 'holds' : 'NOT MET'}; goal < ${GOAL_MIB} MiB: ${peak < GOAL_MIB ? 'met' : 'not met'} (peak ${peak} MiB)`);
    const reportPaths = await publishReport(
      {
        scenario: 'soak-default',
        title: `${SOAK_SECONDS / 60} min at ${RATE} req/s (85 % product reads, 10 % lists, 5 % orders), memory every ${SAMPLE_MS / 1000} s`,
        setup: collectSetup('monolith', { rate: RATE, seconds: SOAK_SECONDS, products: options.products }),
        table, verdict, data: results,
      },
      out,
    );
    return { barHolds, reportPaths };
  },
};
