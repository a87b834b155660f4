import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createInfra } from '../../src/app/infra/infra.ts';
import type { Database } from '../../src/platform/db/database.ts';
import { createPostgresDatabase } from '../../src/platform/db/postgres.adapter.ts';
import { createReadWriteRouter } from '../../src/platform/db/replication/read-write-router.ts';
import { createReplicatedDatabase, createSessionContext } from '../../src/platform/db/replication/replicated-database.ts';
import { closedLoopQueries } from '../data-tier/read-paths.ts';
import { BALANCE_BAR, MOVEMENT_BAR, runHashBalance } from '../data-tier/hash-balance.ts';
import { collectSetup, publishReport } from '../report.ts';
import { fixed, formatRange, median, percent, spread } from '../stats.ts';
import type { Scenario } from './types.ts';

const OVERHEAD_BAR = 0.05;
const ROWS = 100_000;

function pgbench(): string {
  for (const candidate of ['/usr/bin/pgbench', '/usr/local/bin/pgbench']) if (existsSync(candidate)) return candidate;
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  return `/usr/lib/postgresql/${versions[0]}/bin/pgbench`;
}

/**
 * The data tier's figures: hash sharding's balance and key movement, the read/write router's cost
 * per query against a direct pool, and read throughput through 0 and 2 replicas beside pgbench
 * select-only on the same primary. Real servers from `scalemart infra` on spare ports.
 */
export const dataTier: Scenario = {
  description: `hash balance and movement, router overhead per query (bar ≤ ${OVERHEAD_BAR * 100} %), reads with 0 and 2 replicas beside pgbench select-only`,
  async run(options, { group, log, out }) {
    log('hash balance over 1 000 000 keys…');
    const hash = runHashBalance({ seed: options.seed });
    const dir = await group.tempDir('data-tier');
    const infra = createInfra({ dir, basePort: 17432 });
    const open: Database[] = [];
    try {
      log('starting PostgreSQL primary and two replicas…');
      await infra.up();
      const urls = await infra.urls();
      const connect = (url: string) => {
        const db = createPostgresDatabase({ connectionString: url, poolSize: 8 });
        open.push(db);
        return db;
      };
      const primary = connect(urls.main);
      await primary.exec(`drop table if exists bench; create table bench (id int primary key, body text not null);
        insert into bench select g, md5(g::text) from generate_series(1, ${ROWS}) g; analyze bench;`);
      const replicas = urls.replicas.map((url, i) => ({ name: `replica-${i + 1}`, db: connect(url) }));
      const viaRouter = (withReplicas: boolean) => {
        const router = createReadWriteRouter({ primary, replicas: withReplicas ? replicas : [], probeEveryMs: 100 });
        return { router, db: createReplicatedDatabase(primary, router, createSessionContext()) };
      };
      const noReplicas = viaRouter(false);
      const twoReplicas = viaRouter(true);
      twoReplicas.router.start();
      // Replicas have the table once they replayed it.
      for (let i = 0; i < 100 && twoReplicas.router.state().some((s) => !s.healthy || (s.lagBytes ?? 1n) > 0n); i++) await new Promise((r) => setTimeout(r, 100));

      const loop = (db: Database, seed: number) => closedLoopQueries(db, { seconds: options.durationSeconds, concurrency: 16, rows: ROWS, seed });
      const direct: number[] = [];
      const routed: number[] = [];
      const replicated: number[] = [];
      await loop(primary, 1); // warm-up
      for (let round = 1; round <= options.rounds; round++) {
        direct.push(await loop(primary, round));
        routed.push(await loop(noReplicas.db, round));
        replicated.push(await loop(twoReplicas.db, round));
        log(`round ${round}: direct ${Math.round(direct.at(-1)!)} q/s, router ${Math.round(routed.at(-1)!)}, router + 2 replicas ${Math.round(replicated.at(-1)!)}`);
      }
      twoReplicas.router.stop();

      log('pgbench select-only on the same primary…');
      const port = new URL(urls.main).port;
      const bench = pgbench();
      execFileSync(bench, ['-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-i', '-s', '1', '-q', 'scalemart'], { stdio: 'ignore' });
      const pgbenchOut = execFileSync(bench, ['-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-S', '-n', '-c', '16', '-j', '2', '-T', String(options.durationSeconds), 'scalemart'], { encoding: 'utf8' });
      const tps = Number(/tps = ([\d.]+)/.exec(pgbenchOut)?.[1] ?? NaN);

      const overheads = direct.map((d, i) => 1 - routed[i]! / d);
      const overhead = median(overheads);
      const widest = hash.balance.at(-1)!;
      const rows = [
        ...hash.balance.map((b) => [`hash balance, ${b.shards} shards`, `max/mean ${fixed(b.maxOverMean, 4)}`, b.shards === widest.shards ? `≤ ${BALANCE_BAR}` : '', b.shards === widest.shards ? (b.maxOverMean <= BALANCE_BAR ? 'holds' : 'NOT MET') : '']),
        ...hash.movement.map((m) => [`keys moved adding shard ${m.shards + 1}`, `${percent(m.fraction, 2)} (ideal ${percent(m.ideal, 2)})`, `within ${MOVEMENT_BAR * 100} %`, m.relativeError <= MOVEMENT_BAR ? 'holds' : 'NOT MET']),
        ['router overhead per read (no replicas)', `${percent(overhead, 1)} (range ${formatRange(spread(overheads.map((o) => o * 100)), 1)} %)`, `≤ ${OVERHEAD_BAR * 100} %`, overhead <= OVERHEAD_BAR ? 'holds' : 'NOT MET'],
        ['reads/s, direct pool on the primary', `${Math.round(median(direct))} (${formatRange(spread(direct))})`, '', ''],
        ['reads/s, router, 0 replicas', `${Math.round(median(routed))} (${formatRange(spread(routed))})`, '', ''],
        ['reads/s, router, 2 replicas', `${Math.round(median(replicated))} (${formatRange(spread(replicated))})`, '', ''],
        ['pgbench select-only, same primary (tps)', `${Math.round(tps)}`, 'reference', ''],
      ];
      const held = hash.pass && overhead <= OVERHEAD_BAR;
      const reportPaths = await publishReport({
        scenario: 'data-tier',
        title: `data-tier: 1 000 000 keys; ${options.rounds} rounds × ${options.durationSeconds} s of point reads (16 callers, ${ROWS} rows) on real PostgreSQL`,
        setup: collectSetup('scaled (data tier only)', { rounds: options.rounds, duration: options.durationSeconds, seed: options.seed }),
        table: { columns: ['figure', 'value', 'bar', 'verdict'], rows },
        verdict: [
          `Two cores: the primary, both replicas and the load generator share the same two CPUs, so replicas cannot add read capacity here; the replica row shows the routing works under load, not that it scales. On separate machines each replica adds roughly a primary's worth of reads.`,
          `Bars: ${held ? 'all hold' : 'NOT ALL MET'}.`,
        ],
        data: { hash, direct, routed, replicated, pgbenchTps: tps },
      }, out);
      return { barHolds: held, reportPaths };
    } finally {
      await Promise.all(open.map((db) => db.close().catch(() => undefined)));
      await infra.down({ purge: true }).catch(() => undefined);
    }
  },
};
