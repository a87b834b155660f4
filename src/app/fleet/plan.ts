import { join } from 'node:path';
import type { GroupSpec, Topology } from './topology.ts';

/** The CLI every fleet process runs, relative to the project root (the image's WORKDIR). */
export const CLI_ENTRY = 'src/app/cli.ts';

export type FleetRole = 'gateway' | 'all' | 'service';

export interface RoleCommand {
  role: FleetRole;
  port: number;
  stage: Topology['stage'];
  /** Gateways: the instances they balance over. */
  upstreams?: readonly string[];
  balancer?: string;
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

export function gatewayCommand(topology: Topology, port: number, upstreams: readonly string[]): RoleCommand {
  return { role: 'gateway', port, stage: topology.stage, upstreams, balancer: topology.gateways.balancer };
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

/**
 * Every process of a topology on this machine: instances first (group order), then the gateways
 * over all instances. Each process gets its own SCALEMART_DATA_DIR under `dataDir` (mail files,
 * an embedded database in the monolith stage) unless the topology sets one.
 */
export function planFleet(
  topology: Topology, secrets: FleetSecrets, dataDir: string, host = '127.0.0.1',
  /** How a gateway addresses an instance: this machine's loopback, or a compose service's name. */
  addressOf: (p: PlannedProcess) => string = (p) => `${host}:${p.port}`,
): PlannedProcess[] {
  const shared = { ...topology.env, ...secrets };
  const instances = topology.groups.flatMap((group) =>
    Array.from({ length: group.instances }, (_, i): PlannedProcess => {
      const name = `${group.name}-${i + 1}`;
      const port = group.port + i;
      return {
        name, role: group.role, group: group.name, port,
        args: startArgs(groupCommand(topology, group, port)),
        env: { SCALEMART_DATA_DIR: join(dataDir, name), ...shared, ...group.env, HOST: host },
      };
    }),
  );
  // Service groups would be reached through a routes file (prefix → pool per group); today every
  // group is an `all` group, and one pool over all of them is the same thing.
  const upstreams = instances.map((p) => `http://${addressOf(p)}`);
  const gateways = Array.from({ length: topology.gateways.instances }, (_, i): PlannedProcess => {
    const name = `gateway-${i + 1}`;
    const port = topology.gateways.port + i;
    return {
      name, role: 'gateway', group: 'gateway', port,
      args: startArgs(gatewayCommand(topology, port, upstreams)),
      env: { SCALEMART_DATA_DIR: join(dataDir, name), ...shared, ...topology.gateways.env, HOST: host },
    };
  });
  return [...instances, ...gateways];
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
