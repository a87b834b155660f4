import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { findBinary } from '../../src/app/infra/binaries.ts';
import { fleetDown, fleetStatus, fleetUp } from '../../src/app/fleet/fleet.ts';
import { readTopology, type TopologyInput } from '../../src/app/fleet/topology.ts';
import { cpuSince, snapshotCpu } from '../drivers/process-cpu.ts';
import { adminQuery, labDatabaseUrl, LAB_POSTGRES_URL } from '../postgres-admin.ts';
import type { ProcessGroup } from '../processes.ts';

/**
 * The lab's fleets: each one `fleet up` (the same code as `scalemart fleet up`) on a topology
 * written into the run's temp dir, on its own scratch PostgreSQL database (a copy of one seeded
 * template), its own private nats-server (the events' subjects are fixed, so two fleets on one
 * server would share a stream) and its own database of one private Redis. No nginx edge: the
 * front door is the fleet's one gateway, so both kinds of fleet have exactly one proxy hop.
 */

/** Every Scalemart process of a fleet shares this, besides the stage's URLs. */
const FLEET_ENV: Readonly<Record<string, string>> = {
  LOG_LEVEL: 'warn',
  // No run reaches the limits (the limiter still runs); logins included, which default to 20 a minute.
  RATE_LIMIT_POINTS: '100000000',
  RATE_LIMIT_ROUTES: JSON.stringify({ 'POST /api/v1/auth/login': 100_000_000, 'POST /api/v1/auth/signup': 100_000_000 }),
  SEED_DEMO_PRODUCTS: '0',
  // Every read pays its internal calls: see the scenario's doc comment.
  CACHE_MODE: 'off',
  TRUSTED_PROXIES: '127.0.0.1',
  GATEWAY_TRUSTED_PROXIES: '127.0.0.1',
  SHUTDOWN_DRAIN_MS: '200',
  GATEWAY_DRAIN_GRACE_MS: '200',
  GATEWAY_HEALTH_INTERVAL_MS: '500',
  // As long as the lab's client waits (10 s): at saturation the default 5 s per try would turn a
  // queued request into a 504 the client had not given up on, counting a long queue as failures.
  GATEWAY_TRY_TIMEOUT_MS: '10000',
};

/** A group of a lab fleet: its modules (none for `role: all`) and how many instances. */
export interface LabGroup {
  name: string;
  modules?: readonly string[];
  instances: number;
}

export interface FleetSpec {
  /** Short and unique in the run: names the database, the directory and the report's rows. */
  key: string;
  groups: readonly LabGroup[];
  /** The gateway's port; the groups take the next ones, then nats-server. */
  portBase: number;
  redisDb: number;
}

export interface LabFleet {
  key: string;
  origin: string;
  /** Instances and gateways (the supervisor aside, which only watches). */
  processCount: number;
  /** The pids of every instance and gateway now (a restarted one has a new pid). */
  pids(): Promise<number[]>;
  /** Each instance's and gateway's name (`catalog-2`) by its pid now. */
  names(): Promise<Map<number, string>>;
  /** The PostgreSQL backends serving the fleet's database now (its pools keep them open). */
  databasePids(): Promise<number[]>;
  /** Names of processes restarted since `up`: a crash is a fact the report must carry. */
  restarts(): Promise<string[]>;
  /** The ports of a group's instances. */
  ports(group: string): Promise<number[]>;
  /** `fleet down` now, to free the cores for the next fleets (the group's stop then finds nothing). */
  stop(): Promise<void>;
}

export function fleetTopology(spec: FleetSpec, env: Record<string, string>): TopologyInput {
  let port = spec.portBase + 1;
  const groups = spec.groups.map((g) => {
    const group = { name: g.name, role: g.modules ? 'service' as const : 'all' as const, ...(g.modules ? { modules: [...g.modules] } : {}), instances: g.instances, port };
    port += g.instances;
    return group;
  });
  return {
    version: 1,
    name: 'scalemart',
    stage: 'scaled',
    edge: { enabled: false },
    gateways: { instances: 1, port: spec.portBase, balancer: 'least-request' },
    groups,
    env: { ...FLEET_ENV, ...env },
  };
}

/** Resolves once something accepts TCP connections on the port, or throws after timeoutMs. */
async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`services lab: nothing listens on port ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const SBIN_PATH = () => `${process.env.PATH ?? ''}${path.delimiter}/usr/sbin${path.delimiter}/usr/local/sbin`;

function binary(name: string): string {
  const file = findBinary(name, { path: SBIN_PATH() });
  if (!file) throw new Error(`services lab: ${name} not found on PATH or /usr/sbin`);
  return file;
}

/** A private Redis (no persistence) as a child of the run; each fleet takes one of its databases. */
export async function startLabRedis(group: ProcessGroup, port: number): Promise<string> {
  const dir = await group.tempDir('services-redis');
  group.start('redis', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {}, { command: binary('redis-server') });
  await waitForPort(port);
  return `redis://127.0.0.1:${port}`;
}

const quote = (name: string) => `"${name.replace(/"/g, '')}"`;

/**
 * Seeds `products` products (and no users) into a fresh template database; each fleet's database
 * is a copy of it (`create database … template`), so every fleet serves the same catalog, ids
 * included. The databases are dropped when the run ends.
 */
export async function seedTemplate(group: ProcessGroup, stamp: string, products: number): Promise<string> {
  await dropLeftovers();
  const name = `lab_services_${stamp}_template`;
  await adminQuery(`create database ${quote(name)}`);
  group.adopt(`database ${name}`, () => adminQuery(`drop database if exists ${quote(name)} with (force)`));
  await group.run('scalemart seed', ['src/app/cli.ts', 'seed', '--products', String(products), '--users', '0'], { DATABASE_URL: labDatabaseUrl(name), LOG_LEVEL: 'warn' }, 15 * 60_000);
  return name;
}

/**
 * Drops the databases an interrupted run left (an exit handler cannot drop a database): every
 * `lab_services_*` one nobody is connected to. A run in progress has its fleets connected.
 */
async function dropLeftovers(): Promise<void> {
  const client = new pg.Client({ connectionString: LAB_POSTGRES_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      `select datname from pg_database d where datname like 'lab\\_services\\_%' and not exists (select 1 from pg_stat_activity a where a.datname = d.datname)`,
    );
    for (const { datname } of rows) await client.query(`drop database if exists ${quote(datname)}`);
  } finally {
    await client.end();
  }
}

async function backendPids(database: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: LAB_POSTGRES_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [database]);
    return rows.map((r) => r.pid);
  } finally {
    await client.end();
  }
}

/** Starts one fleet and registers its `fleet down` (and its database's drop) with the group. */
export async function startFleet(group: ProcessGroup, spec: FleetSpec, template: string, redisUrl: string, log: (line: string) => void): Promise<LabFleet> {
  const dir = await group.tempDir(`services-${spec.key}`);
  const database = `${template.replace(/_template$/, '')}_${spec.key}`;
  await adminQuery(`create database ${quote(database)} template ${quote(template)}`);
  group.adopt(`database ${database}`, () => adminQuery(`drop database if exists ${quote(database)} with (force)`));

  const natsPort = spec.portBase + 1 + spec.groups.reduce((n, g) => n + g.instances, 0);
  group.start(`nats ${spec.key}`, ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', path.join(dir, 'nats')], {}, { command: binary('nats-server') });
  await waitForPort(natsPort);

  const file = path.join(dir, 'topology.json');
  await writeFile(file, JSON.stringify(fleetTopology(spec, { DATABASE_URL: labDatabaseUrl(database), NATS_URL: `nats://127.0.0.1:${natsPort}`, REDIS_URL: `${redisUrl}/${spec.redisDb}` }), null, 2));
  const fleetDir = path.join(dir, 'fleet');
  let supervisorPid: number | null = null;
  const down = async () => void (await fleetDown({ dir: fleetDir, stopTimeoutMs: 5_000 }));
  // Registered before `up` returns: a fleet that comes up half-way is stopped too.
  group.adopt(`fleet ${spec.key}`, down, () => {
    if (supervisorPid) process.kill(supervisorPid, 'SIGTERM'); // it stops its children, then itself
  });
  log(`fleet ${spec.key}: up (${spec.groups.map((g) => `${g.name}×${g.instances}`).join(', ')}) …`);
  const started = performance.now();
  const status = await fleetUp(await readTopology(file), { dir: fleetDir, stopTimeoutMs: 5_000, log: (line) => log(`fleet ${spec.key}: ${line}`) });
  supervisorPid = status.supervisorPid;
  log(`fleet ${spec.key}: ready in ${((performance.now() - started) / 1000).toFixed(1)} s at ${status.publicUrl}`);
  const processes = async () => (await fleetStatus({ dir: fleetDir })).processes;
  return {
    key: spec.key,
    origin: status.publicUrl!,
    processCount: status.processes.length,
    pids: async () => (await processes()).flatMap((p) => (p.pid ? [p.pid] : [])),
    names: async () => new Map((await processes()).flatMap((p) => (p.pid ? [[p.pid, p.name] as const] : []))),
    restarts: async () => (await processes()).filter((p) => p.restarts > 0).map((p) => `${p.name} ×${p.restarts}`),
    databasePids: () => backendPids(database),
    ports: async (name) => (await processes()).filter((p) => p.group === name).map((p) => p.port),
    stop: down,
  };
}

/**
 * Waits until the fleet spends under `msPerSecondPerProcess` of CPU per process over one second,
 * at most `timeoutMs`: after start-up (the outbox relaying the seeded catalog's events, JIT) and
 * after a run (order sagas still working), so leftover work is not billed to the next measurement.
 * Returns the last second's CPU, ms, and whether it went quiet.
 */
export async function untilQuiet(fleet: LabFleet, timeoutMs: number, msPerSecondPerProcess = 25): Promise<{ msPerSecond: number; quiet: boolean }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const before = snapshotCpu(await fleet.pids());
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const pids = await fleet.pids();
    const msPerSecond = cpuSince(before, pids) / 1e6;
    if (msPerSecond < msPerSecondPerProcess * pids.length) return { msPerSecond, quiet: true };
    if (Date.now() > deadline) return { msPerSecond, quiet: false };
  }
}

/**
 * How many requests the instances on `ports` have answered on routes containing `route` (their
 * `http_request_duration_seconds` counts, from each one's /metrics): to count internal calls.
 */
export async function answered(ports: readonly number[], route: string): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (line.startsWith('http_request_duration_seconds_count{') && line.includes(route)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}
