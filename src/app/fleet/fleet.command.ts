import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fleetDown, fleetStatus, fleetUp, type FleetStatus } from './fleet.ts';
import { DEFAULT_TOPOLOGY, parseTopology, readTopology, TopologyError, type Topology } from './topology.ts';

const USAGE = `Usage: scalemart fleet up|down|status|deploy [options]

  up                 start the edge, the gateways and every group's instances from the topology,
                     under a supervisor that restarts a crashed process (backoff up to 30 s)
  down               stop them all: SIGTERM, SIGKILL after 15 s, by their recorded pids
  status [--json]    one line per process: role, port, pid, health (/readyz), restarts;
                     --json adds the front door's URL; exits non-zero unless all are ready
  deploy [--out D]   write Dockerfile, kubernetes.yaml and compose.yaml from the topology (default deploy/),
                     and compose's gateway-routes.json when it has service groups

  --topology FILE    the topology (default deploy/topology.json, else the built-in default)
  --dir DIR          state, secrets and logs (default $SCALEMART_DATA_DIR/fleet, or ./data/fleet)
`;

const DEFAULT_TOPOLOGY_FILE = join('deploy', 'topology.json');

async function loadTopology(file: string | undefined): Promise<Topology> {
  if (file) return readTopology(file);
  if (existsSync(DEFAULT_TOPOLOGY_FILE)) return readTopology(DEFAULT_TOPOLOGY_FILE);
  return parseTopology(DEFAULT_TOPOLOGY, 'the default topology');
}

/** One aligned line per process, for people; `--json` gives the same data to scripts. */
export function formatFleetStatus(status: FleetStatus): string {
  const rows = [
    ['NAME', 'ROLE', 'PORT', 'PID', 'HEALTH', 'RESTARTS', 'STATE'],
    ...status.processes.map((p) => [p.name, p.role, String(p.port), String(p.pid ?? '-'), p.health, String(p.restarts), p.state]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
  const head = status.running ? `fleet: running (supervisor pid ${status.supervisorPid}), front door ${status.publicUrl}` : 'fleet: not running';
  return `${head}\nlogs: ${status.logs}\n${status.processes.length > 0 ? `${table}\n` : ''}`;
}

/** `scalemart fleet …`: returns the process exit code. */
export async function fleetCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      topology: { type: 'string' },
      dir: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [action] = positionals;
  const dir = values.dir ?? join(process.env.SCALEMART_DATA_DIR ?? './data', 'fleet');
  if (action === 'supervise') {
    // Internal: the detached process `up` forks (see supervisor.ts); it runs until `down`.
    const { runSupervisor } = await import('./supervisor.ts');
    await runSupervisor(positionals[1] ?? dir);
    return -1;
  }
  if (values.help || !action || !['up', 'down', 'status', 'deploy'].includes(action) || positionals.length > 1) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    return values.help ? 0 : 2;
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  try {
    if (action === 'deploy') {
      const { pinnedNodeVersion, writeDeploy } = await import('./deploy/index.ts');
      const topology = await loadTopology(values.topology);
      // Service groups that do not run every module exactly once throw a TopologyError here, as in `up`.
      const files = await writeDeploy(topology, values.out ?? 'deploy', process.cwd(), await pinnedNodeVersion(process.cwd()));
      process.stdout.write(`Wrote ${files.join(', ')}\n`);
      return 0;
    }
    if (action === 'up') {
      const started = performance.now();
      const status = await fleetUp(await loadTopology(values.topology), { dir, log });
      if (values.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      else process.stdout.write(`Up in ${((performance.now() - started) / 1000).toFixed(1)} s\n${formatFleetStatus(status)}`);
      return 0;
    }
    if (action === 'down') {
      const actions = await fleetDown({ dir, log });
      process.stdout.write(actions.length === 0 ? 'Nothing was running\n' : `${actions.join('\n')}\n`);
      return 0;
    }
    const status = await fleetStatus({ dir });
    process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : formatFleetStatus(status));
    return status.running && status.processes.every((p) => p.health === 'ready') ? 0 : 1;
  } catch (error) {
    if (error instanceof TopologyError) {
      process.stderr.write(`fleet ${action}: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`fleet ${action}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
