import { join } from 'node:path';
import { MODULES } from '../modules.ts';
import type { ModuleName } from '../../platform/config/config.ts';
import { moduleOwners, TopologyError, type GroupSpec, type Topology } from './topology.ts';

/** The CLI every fleet process runs, relative to the project root (the image's WORKDIR). */
export const CLI_ENTRY = 'src/app/cli.ts';

export type FleetRole = 'gateway' | 'all' | 'service';

export interface RoleCommand {
  role: FleetRole;
  port: number;
  stage: Topology['stage'];
  /** Gateways: the instances they balance over (one pool), unless they read a routes file. */
  upstreams?: readonly string[];
  balancer?: string;
  /** Gateways in front of service groups: the routes file (a pool per group, see `gatewayRoutes`). */
  routesFile?: string | undefined;
  /** Service groups: the modules they run. */
  modules?: readonly string[];
}

/**
 * The arguments after `node` for one role: the only place a fleet process's command line is
 * written. `fleet up` runs it here, and the Dockerfile and manifests in `deploy/` carry it, so a
 * test can check that the cluster runs exactly what this machine runs.
 */
export function startArgs(command: RoleCommand): string[] {
  const port = ['--port', String(command.port)];
  switch (command.role) {
    case 'gateway':
      if (command.routesFile) return [CLI_ENTRY, 'start', '--role', 'gateway', ...port, '--routes', command.routesFile];
      return [CLI_ENTRY, 'start', '--role', 'gateway', ...port, '--upstream', (command.upstreams ?? []).join(','), '--balancer', command.balancer ?? 'least-request'];
    case 'service':
      return [CLI_ENTRY, 'start', '--role', 'service', '--modules', (command.modules ?? []).join(','), '--stage', command.stage, ...port];
    case 'all':
      // --role all although it is the default: an exported SCALEMART_ROLE must not turn instances into gateways.
      return [CLI_ENTRY, 'start', '--role', 'all', '--stage', command.stage, ...port];
  }
}

export function groupCommand(topology: Topology, group: GroupSpec, port: number): RoleCommand {
  return { role: group.role, port, stage: topology.stage, modules: group.modules };
}

export function gatewayCommand(topology: Topology, port: number, upstreams: readonly string[], routesFile?: string): RoleCommand {
  return { role: 'gateway', port, stage: topology.stage, upstreams, balancer: topology.gateways.balancer, routesFile };
}

/** One process of a local fleet. */
export interface PlannedProcess {
  /** `all-1`, `gateway-2`: unique, and the name of its log file. */
  name: string;
  role: FleetRole;
  /** The group it belongs to (`gateway` for gateways). */
  group: string;
  port: number;
  args: string[];
  env: Record<string, string>;
}

export interface FleetSecrets {
  JWT_SECRET: string;
  INTERNAL_SECRET: string;
}

/** A gateways' routes file as `--routes` reads it (platform/gateway/routes-file.ts). */
export interface RoutesFile {
  pools: Record<string, { upstreams: string[]; balancer: string }>;
  routes: Array<{ prefix: string; pool: string }>;
}

const ADDRESS_ON_HOST = (host: string) => (p: PlannedProcess) => `${host}:${p.port}`;

/**
 * Every process of a topology on this machine: instances first (group order), then the gateways.
 * Each process gets its own SCALEMART_DATA_DIR under `dataDir` (mail files, an embedded database
 * in the monolith stage) unless the topology sets one.
 *
 * `all` groups need nothing more, and the gateways balance over all their instances as one pool
 * (`--upstream`). Service groups (`moduleOwners` refuses an incomplete set) each get SERVICE_URLS
 * naming, for every module they do not run, the instances of the group that runs it; the
 * gateways read `routesFile` (`gatewayRoutes` writes what goes in it).
 */
export function planFleet(
  topology: Topology, secrets: FleetSecrets, dataDir: string, host = '127.0.0.1',
  /** How a process addresses another: this machine's loopback, or a compose service's name. */
  addressOf: (p: PlannedProcess) => string = ADDRESS_ON_HOST(host),
  /** Where the gateways' routes file will be: required when the topology has service groups. */
  routesFile?: string,
): PlannedProcess[] {
  const owners = moduleOwners(topology);
  if (owners && !routesFile) throw new TopologyError('service groups need a routes file for the gateways (planFleet: routesFile)');
  const shared = { ...topology.env, ...secrets };
  const instancesOf = (group: GroupSpec) => Array.from({ length: group.instances }, (_, i): PlannedProcess => {
    const name = `${group.name}-${i + 1}`;
    const port = group.port + i;
    return {
      name, role: group.role, group: group.name, port,
      args: startArgs(groupCommand(topology, group, port)),
      env: { SCALEMART_DATA_DIR: join(dataDir, name), ...shared, ...group.env, HOST: host },
    };
  });
  const instances = topology.groups.flatMap((g) => instancesOf(g));
  if (owners) {
    const urlsOf = instanceUrls(instances, addressOf);
    for (const p of instances) {
      const group = topology.groups.find((g) => g.name === p.group)!;
      // Over any SERVICE_URLS in the env: the fleet knows where the other groups are.
      p.env = { ...p.env, SERVICE_URLS: serviceUrls(owners, group, urlsOf), HOST: host };
    }
  }
  // With only `all` groups one pool over every instance is the whole routing.
  const upstreams = instances.map((p) => `http://${addressOf(p)}`);
  const gateways = Array.from({ length: topology.gateways.instances }, (_, i): PlannedProcess => {
    const name = `gateway-${i + 1}`;
    const port = topology.gateways.port + i;
    return {
      name, role: 'gateway', group: 'gateway', port,
      args: startArgs(gatewayCommand(topology, port, upstreams, owners ? routesFile : undefined)),
      env: { SCALEMART_DATA_DIR: join(dataDir, name), ...shared, ...topology.gateways.env, HOST: host },
    };
  });
  return [...instances, ...gateways];
}

/**
 * How the processes reach a group: `http://` and the address of each of its instances. The
 * deploy generators pass their own (a Kubernetes Service per group) to `serviceUrls` and
 * `gatewayRoutes` instead.
 */
export function instanceUrls(
  processes: readonly PlannedProcess[], addressOf: (p: PlannedProcess) => string = ADDRESS_ON_HOST('127.0.0.1'),
): (group: GroupSpec) => string[] {
  return (group) => processes.filter((p) => p.group === group.name).map((p) => `http://${addressOf(p)}`);
}

/**
 * A service group's SERVICE_URLS: for every module it does not run, `module=` the URLs of the
 * group that runs it, `;` between modules. The one place the value is written, for `fleet up`,
 * compose and Kubernetes alike; only how a group is reached (`urlsOf`) differs.
 */
export function serviceUrls(owners: ReadonlyMap<ModuleName, GroupSpec>, group: GroupSpec, urlsOf: (owner: GroupSpec) => readonly string[]): string {
  return [...owners]
    .filter(([module]) => !group.modules!.includes(module))
    .map(([module, owner]) => `${module}=${urlsOf(owner).join(',')}`)
    .join(';');
}

/**
 * The gateways' routes file for a topology with service groups (undefined for `all` groups): a
 * pool per group over `urlsOf` it (its instances, or its Service on a cluster), and a route per
 * public prefix of each module to the pool of the group that runs it. `/api/v1` itself goes to the
 * group running orders: it catches what no module claims (an unknown path gets that group's 404),
 * and it is the route the gateway answers `/api/v1/storefront/home` under, composing the page from
 * the catalog and orders pools.
 */
export function gatewayRoutes(topology: Topology, urlsOf: (group: GroupSpec) => string[]): RoutesFile | undefined {
  const owners = moduleOwners(topology);
  if (!owners) return undefined;
  const routes = [
    ...MODULES.flatMap((m) => m.publicPrefixes.map((prefix) => ({ prefix, pool: owners.get(m.name)!.name }))),
    { prefix: '/api/v1', pool: owners.get('orders')!.name },
  ];
  const routed = new Set(routes.map((r) => r.pool));
  const pools = Object.fromEntries(topology.groups.filter((g) => routed.has(g.name)).map((g) => [g.name, {
    upstreams: urlsOf(g),
    balancer: topology.gateways.balancer,
  }]));
  return { pools, routes };
}

/** The front door: the edge when there is one, else the first gateway, else the first instance. */
export function publicUrl(topology: Topology, processes: readonly PlannedProcess[], host = '127.0.0.1'): string {
  if (topology.edge.enabled) return `http://${host}:${topology.edge.port}`;
  const door = processes.find((p) => p.role === 'gateway') ?? processes[0]!;
  return `http://${host}:${door.port}`;
}

/** What the edge balances over: the gateways, or the instances when a topology has none. */
export function edgeUpstreams(processes: readonly PlannedProcess[], host = '127.0.0.1'): string[] {
  const gateways = processes.filter((p) => p.role === 'gateway');
  return (gateways.length > 0 ? gateways : processes).map((p) => `http://${host}:${p.port}`);
}
