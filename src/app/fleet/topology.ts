import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { MODULE_NAMES, type ModuleName } from '../../platform/config/config.ts';
import { DEFAULT_EDGE_PORT, DEFAULT_NATS_PORT, DEFAULT_REDIS_PORT } from '../infra/ports.ts';
import { createTopology as createInfraTopology, serverUrl } from '../infra/topology.ts';

/**
 * A fleet's topology: the edge, the gateways and the service groups, in one JSON file that both
 * `scalemart fleet up` (this machine) and `scalemart fleet deploy` (many machines) read.
 *
 * A group is `role: "all"` (every module in one process) or `role: "service"` with
 * `modules: [...]` (`scalemart start --role service --modules …`). A topology is either `all`
 * groups only, or service groups only that run every module exactly once between them (`moduleOwners`):
 * each service group is then told where the others are (SERVICE_URLS), and the gateways get a
 * routes file with a pool per group, on this machine and in what `fleet deploy` generates.
 */

// Ports below the kernel's ephemeral range (32768 and up), as `infra` keeps them.
const port = z.number().int().min(1024).max(32_767);
const name = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'lower-case letters, digits and dashes, starting with a letter');
const envValue = z.string().max(4096);

/** Kubernetes-style resources: what the scheduler reserves, and the most a container may take. */
const Resources = z.strictObject({
  cpu: z.string().regex(/^\d+(\.\d+)?m?$/).default('250m'),
  memory: z.string().regex(/^\d+(Mi|Gi)$/).default('256Mi'),
  cpuLimit: z.string().regex(/^\d+(\.\d+)?m?$/).default('1'),
  memoryLimit: z.string().regex(/^\d+(Mi|Gi)$/).default('512Mi'),
});

/** How a deployment scales on a cluster (HorizontalPodAutoscaler); the local runner uses `instances`. */
const Autoscale = z.strictObject({
  min: z.number().int().min(1).max(100),
  max: z.number().int().min(1).max(100),
  cpuPercent: z.number().int().min(10).max(100).default(70),
}).refine((a) => a.min <= a.max, { message: 'autoscale.min must not exceed autoscale.max' });

const Group = z.strictObject({
  name,
  role: z.enum(['all', 'service']).default('all'),
  /** The modules a `service` group runs; `all` groups run every module and leave this out. */
  modules: z.array(name).min(1).optional(),
  instances: z.number().int().min(1).max(32),
  /** Instance i listens on port + i on this machine; every pod listens on `port` in a cluster. */
  port,
  env: z.record(z.string(), envValue).default({}),
  resources: Resources.default(Resources.parse({})),
  autoscale: Autoscale.optional(),
}).refine((g) => (g.role === 'service') === (g.modules !== undefined), {
  message: 'a service group names its modules; an all group leaves modules out',
});

const Gateways = z.strictObject({
  instances: z.number().int().min(0).max(16),
  port,
  balancer: z.enum(['round-robin', 'least-request', 'weighted', 'hash']).default('least-request'),
  env: z.record(z.string(), envValue).default({}),
  resources: Resources.default(Resources.parse({})),
  autoscale: Autoscale.optional(),
});

const Edge = z.strictObject({
  enabled: z.boolean().default(true),
  port: port.default(DEFAULT_EDGE_PORT),
  cache: z.boolean().default(false),
});

export const TopologySchema = z.strictObject({
  version: z.literal(1),
  /** Prefix of every generated name (Deployments, compose services, the image). */
  name: name.default('scalemart'),
  stage: z.enum(['monolith', 'scaled']).default('scaled'),
  edge: Edge.default(Edge.parse({})),
  gateways: Gateways,
  groups: z.array(Group).min(1),
  /**
   * The environment every process shares. JWT_SECRET and INTERNAL_SECRET may be given here; when
   * they are not, `fleet up` generates them once into its directory (`secrets/`).
   */
  env: z.record(z.string(), envValue).default({}),
  /** What a cluster or compose host uses instead (its own database and broker addresses). */
  deploy: z.strictObject({
    env: z.record(z.string(), envValue).default({}),
    image: z.string().min(1).default('scalemart:latest'),
  }).default({ env: {}, image: 'scalemart:latest' }),
}).superRefine((t, ctx) => {
  const names = new Set<string>();
  for (const [i, g] of t.groups.entries()) {
    if (names.has(g.name) || g.name === 'gateway' || g.name === 'edge') ctx.addIssue({ code: 'custom', path: ['groups', i, 'name'], message: `"${g.name}" is taken` });
    names.add(g.name);
  }
  const used = new Map<number, string>();
  const claim = (p: number, who: string) => {
    const other = used.get(p);
    if (other) ctx.addIssue({ code: 'custom', path: [], message: `port ${p}: both ${other} and ${who}` });
    else used.set(p, who);
  };
  if (t.edge.enabled) claim(t.edge.port, 'edge');
  for (let i = 0; i < t.gateways.instances; i++) claim(t.gateways.port + i, `gateway-${i + 1}`);
  for (const g of t.groups) for (let i = 0; i < g.instances; i++) claim(g.port + i, `${g.name}-${i + 1}`);
  for (const p of used.keys()) if (p > 32_767) ctx.addIssue({ code: 'custom', path: [], message: `port ${p} lies in the ephemeral range` });
});

export type Topology = z.infer<typeof TopologySchema>;
export type TopologyInput = z.input<typeof TopologySchema>;
export type GroupSpec = Topology['groups'][number];

export class TopologyError extends Error {
  readonly code = 'FLEET_TOPOLOGY_INVALID';
}

/** Parses and validates a topology; a bad one throws naming the field (`groups.0.instances: …`). */
export function parseTopology(json: unknown, source = 'topology'): Topology {
  const result = TopologySchema.safeParse(json);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
  throw new TopologyError(`${source}: ${issues.join('; ')}`);
}

export async function readTopology(file: string): Promise<Topology> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new TopologyError(`${file}: cannot read JSON (${(error as Error).message})`);
  }
  return parseTopology(json, file);
}

/** The env that points processes at `scalemart infra up`'s default servers. */
export function infraEnv(): Record<string, string> {
  const specs = createInfraTopology('unused');
  return {
    DATABASE_URL: serverUrl(specs.find((s) => s.name === 'main')!),
    DATABASE_REPLICA_URLS: specs.filter((s) => s.role === 'replica').map((s) => serverUrl(s)).join(','),
    SHARD_URLS: specs.filter((s) => s.role === 'shard').map((s) => serverUrl(s)).join(','),
    REDIS_URL: `redis://127.0.0.1:${DEFAULT_REDIS_PORT}`,
    NATS_URL: `nats://127.0.0.1:${DEFAULT_NATS_PORT}`,
  };
}

/**
 * The shipped default, for two cores: the edge on 18080, two gateways (3001, 3002, which is what
 * `infra up --edge` expects) and one all-modules group of two instances (3101, 3102) on infra's
 * servers. Four Node processes and nginx on two cores already oversubscribe them; more instances
 * would only add memory and context switches. `deploy/topology.json` is this, written out.
 */
export const DEFAULT_TOPOLOGY: TopologyInput = {
  version: 1,
  name: 'scalemart',
  stage: 'scaled',
  edge: { enabled: true, port: DEFAULT_EDGE_PORT, cache: false },
  gateways: {
    instances: 2,
    port: 3001,
    balancer: 'least-request',
    resources: { cpu: '250m', memory: '128Mi', cpuLimit: '1', memoryLimit: '256Mi' },
    autoscale: { min: 2, max: 6, cpuPercent: 70 },
  },
  groups: [
    {
      name: 'all',
      role: 'all',
      instances: 2,
      port: 3101,
      resources: { cpu: '500m', memory: '384Mi', cpuLimit: '1', memoryLimit: '768Mi' },
      autoscale: { min: 2, max: 10, cpuPercent: 70 },
    },
  ],
  env: {
    ...infraEnv(),
    LOG_LEVEL: 'info',
    // Every request reaches an instance through a gateway, and a gateway through the edge.
    TRUSTED_PROXIES: '127.0.0.1',
    GATEWAY_TRUSTED_PROXIES: '127.0.0.1',
  },
  deploy: {
    image: 'scalemart:latest',
    // A cluster's or compose host's own servers, by name; replicas and shards are theirs to add.
    env: {
      DATABASE_URL: 'postgres://postgres@postgres:5432/scalemart',
      DATABASE_REPLICA_URLS: '',
      SHARD_URLS: '',
      REDIS_URL: 'redis://redis:6379',
      NATS_URL: 'nats://nats:4222',
      // Pods and compose containers reach each other over a private network, not loopback.
      TRUSTED_PROXIES: '10.0.0.0/8,172.16.0.0/12,192.168.0.0/16',
      GATEWAY_TRUSTED_PROXIES: '10.0.0.0/8,172.16.0.0/12,192.168.0.0/16',
    },
  },
};

/**
 * Which group runs each module: undefined for a topology of `all` groups (each runs everything).
 * Otherwise every module must run in exactly one service group; throws one line naming the
 * unknown, missing or twice-run modules (an `all` group beside service groups runs them twice).
 */
export function moduleOwners(topology: Topology): Map<ModuleName, GroupSpec> | undefined {
  const services = topology.groups.filter((g) => g.role === 'service');
  if (services.length === 0) return undefined;
  const problems: string[] = [];
  const alls = topology.groups.filter((g) => g.role === 'all');
  if (alls.length > 0) problems.push(`group(s) ${alls.map((g) => `"${g.name}"`).join(', ')} run every module beside service groups (use only service groups, or only all groups)`);
  const unknown = services.flatMap((g) => (g.modules ?? []).filter((m) => !(MODULE_NAMES as readonly string[]).includes(m)).map((m) => `"${m}" (group "${g.name}")`));
  if (unknown.length > 0) problems.push(`unknown module(s) ${unknown.join(', ')}; the modules are ${MODULE_NAMES.join(', ')}`);
  const owners = new Map<ModuleName, GroupSpec>();
  for (const name of MODULE_NAMES) {
    const runs = services.filter((g) => g.modules?.includes(name));
    if (runs.length === 0) problems.push(`module ${name} runs in no group`);
    else if (runs.length > 1) problems.push(`module ${name} runs in groups ${runs.map((g) => `"${g.name}"`).join(' and ')}`);
    else owners.set(name, runs[0]!);
  }
  if (problems.length > 0) throw new TopologyError(`service groups must run every module exactly once: ${problems.join('; ')}`);
  return owners;
}

/**
 * Refuses what `fleet up` cannot run: service groups that do not run every module exactly once
 * (`moduleOwners`), or whose DATABASE_URL is not PostgreSQL (services share its database, or with
 * DATABASE_PER_SERVICE each creates its own on that server), or
 * secrets given in the topology that are too short. JWT_SECRET and INTERNAL_SECRET are otherwise
 * generated by the fleet, the same for every process.
 */
export function assertRunnable(topology: Topology): void {
  if (!moduleOwners(topology)) return;
  for (const g of topology.groups) {
    const env = { ...topology.env, ...g.env };
    if (!env.DATABASE_URL?.startsWith('postgres')) {
      throw new TopologyError(`group "${g.name}": service groups need PostgreSQL (one shared database, or one each under DATABASE_PER_SERVICE); set env.DATABASE_URL to a postgres:// URL (got ${JSON.stringify(env.DATABASE_URL ?? '')})`);
    }
    for (const key of ['JWT_SECRET', 'INTERNAL_SECRET'] as const) {
      if (env[key] !== undefined && env[key].length < 32) throw new TopologyError(`group "${g.name}": ${key} must be at least 32 characters, the same in every process (leave it out and the fleet generates one)`);
    }
  }
}
