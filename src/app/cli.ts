#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SingleBar, Presets } from 'cli-progress';
import { ConfigError, loadConfig, type Config } from '../platform/config/config.ts';
import { createLogger } from '../platform/observability/logger.ts';
import { createDatabase } from '../platform/db/create-database.ts';
import { migrate } from '../platform/db/migrations.ts';
import { readShardMap, shardMapMigrations } from '../platform/db/sharding/shard-set.ts';
import { createCore } from './core.ts';
import { addShard } from './shard-rebalance.ts';
import { infraCommand } from './infra/infra.command.ts';
import { fleetCommand } from './fleet/fleet.command.ts';
import { runServer, DEMO_USER_PASSWORD } from './server.ts';
import { seed } from './seed/seed.ts';
import { rebuildProjection } from '../modules/orders/index.ts';

const USAGE = `Usage: scalemart <command>

  start [--stage monolith|scaled] [--port N]   run the platform (every module: --role all, the default)
  start --role service --modules identity,inventory,catalog,payments,shipping,notifications,orders (any of them)
                                               run only those modules (PostgreSQL, JWT_SECRET, INTERNAL_SECRET; the modules
                                               they call that run elsewhere at SERVICE_URLS="inventory=http://h:p,http://h:p;…")
  start --role gateway --upstream URL,URL,… [--balancer round-robin|least-request|weighted|hash] [--routes FILE] [--port N]
                                               run an API gateway in front of Scalemart processes
  seed [--products N] [--users N]              load a realistic catalog and users (default 10000 products, 100 users)
  infra up|down|status [--dir D] [--base-port N] [--purge] [--json] [--edge …]
                                               local PostgreSQL (primary, 2 replicas, 4 shards), Redis, NATS, nginx edge for the scaled stage
  fleet up|down|status|deploy [--topology FILE] [--dir D] [--json] [--out D]
                                               run the edge, gateways and instances of a topology on this machine; generate deploy/
  replay --projection NAME                     rebuild a read model from the event log (order-history, product-sales)
  shards status | shards add --url URL         list the orders/inventory shard map; add a shard online (moves only the keys it takes)
  lab run <scenario> | lab list                run a load-lab scenario
`;

function config(overrides: Record<string, string | undefined> = {}): Config {
  // A .env beside the project is read when present; real environment variables win.
  if (existsSync('.env')) process.loadEnvFile('.env');
  return loadConfig({ ...process.env, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) });
}

async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { stage: { type: 'string' }, port: { type: 'string' }, role: { type: 'string' }, modules: { type: 'string' }, upstream: { type: 'string' }, balancer: { type: 'string' }, routes: { type: 'string' } },
  });
  const cfg = config({
    SCALEMART_STAGE: values.stage, PORT: values.port, SCALEMART_ROLE: values.role, SCALEMART_MODULES: values.modules,
    GATEWAY_UPSTREAMS: values.upstream, GATEWAY_BALANCER: values.balancer, GATEWAY_ROUTES_FILE: values.routes,
  });
  if (cfg.role === 'gateway') {
    const { runGateway } = await import('./gateway.ts');
    await runGateway(cfg, createLogger(cfg.logLevel));
    return;
  }
  await runServer(cfg, createLogger(cfg.logLevel));
}

async function seedCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { products: { type: 'string', default: '10000' }, users: { type: 'string', default: '100' } } });
  const products = Number(values.products);
  const users = Number(values.users);
  if (!Number.isInteger(products) || products < 0 || products > 1_000_000) throw new ConfigError('--products: an integer from 0 to 1000000');
  if (!Number.isInteger(users) || users < 0 || users > 1_000_000) throw new ConfigError('--users: an integer from 0 to 1000000');
  const cfg = config();
  const core = await createCore(cfg, createLogger('warn'));
  const bar = new SingleBar({ format: '{kind} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left', hideCursor: true }, Presets.shades_classic);
  let current: string | undefined;
  const result = await seed(
    { catalog: core.modules.catalog.api, inventory: core.modules.inventory.api, identity: core.modules.identity.api },
    {
      products,
      users,
      userPassword: DEMO_USER_PASSWORD,
      onProgress(kind, done, total) {
        if (kind !== current) {
          if (current) bar.stop();
          current = kind;
          bar.start(total, 0, { kind: kind.padEnd(8) });
        }
        bar.update(done);
      },
    },
  );
  bar.stop();
  await core.close();
  process.stdout.write(`Seeded ${result.products} products and ${result.users} users into ${cfg.databaseUrl || cfg.dataDir} (seeded users' password: ${DEMO_USER_PASSWORD})\n`);
}

async function replayCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { projection: { type: 'string' } } });
  const cfg = config();
  const core = await createCore(cfg, createLogger('warn'));
  try {
    const projections = core.modules.orders.projections;
    const projection = projections.find((p) => p.name === values.projection || p.name.endsWith(`.${values.projection}`));
    if (!projection) throw new ConfigError(`--projection: one of ${projections.map((p) => p.name.split('.').at(-1)).join(', ')}`);
    const started = performance.now();
    const applied = await rebuildProjection(core.db, core.transport, projection);
    process.stdout.write(`Rebuilt ${projection.name} from ${applied} events in ${Math.round(performance.now() - started)} ms\n`);
  } finally {
    await core.close();
  }
}

async function shardsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { url: { type: 'string' } } });
  const cfg = config();
  if (!cfg.databaseUrl.startsWith('postgres')) throw new ConfigError('DATABASE_URL: shards need the main database on PostgreSQL (postgres://…)');
  const main = await createDatabase({ url: cfg.databaseUrl, dataDir: cfg.dataDir, poolSize: 2 });
  try {
    await migrate(main, 'sharding', shardMapMigrations);
    if (positionals[0] === 'status') {
      const map = await readShardMap(main);
      const lines = map.shards.map((s) => `${s.position}  ${s.name.padEnd(9)} ${s.url}`);
      process.stdout.write(`shard map version ${map.version}\n${lines.join('\n') || '(no shards: the main database holds orders and stock)'}\n`);
      return 0;
    }
    if (positionals[0] === 'add') {
      if (!values.url?.startsWith('postgres')) throw new ConfigError("--url: the new shard's postgres:// URL");
      const report = await addShard({ main, url: values.url, logger: createLogger(cfg.logLevel) });
      process.stdout.write(`Added ${report.shard} (map version ${report.version}); writers waited ${report.fencedMs} ms\n`);
      for (const m of report.moved) process.stdout.write(`  from ${m.from}: ${m.skus} SKUs, ${m.customers} customers (${m.orders} orders)\n`);
      return 0;
    }
    process.stderr.write(USAGE);
    return 2;
  } finally {
    await main.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      await start(rest);
      return -1; // keeps running until a signal
    case 'seed':
      await seedCommand(rest);
      return 0;
    case 'infra':
      return infraCommand(rest);
    case 'fleet':
      return fleetCommand(rest);
    case 'replay':
      await replayCommand(rest);
      return 0;
    case 'shards':
      return shardsCommand(rest);
    case 'lab': {
      const { runLab } = await import('../../lab/cli.ts');
      return runLab(rest);
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`Unknown command: ${command}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
