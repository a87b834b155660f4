import { spawn } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeEdge, startEdge, stopEdge, type StartedEdge } from '../infra/edge.ts';
import { loadOrCreateSecret } from '../secrets.ts';
import { portAnswers, probeReady } from './health.ts';
import { edgeUpstreams, gatewayRoutes, instanceUrls, planFleet, publicUrl, type FleetSecrets } from './plan.ts';
import {
  alive, DEFAULT_BACKOFF, fleetPaths, isOurs, processMarks, readState, supervisorMarks, writeJson,
  type BackoffOptions, type FleetPlan, type FleetState, type ProcessState,
} from './state.ts';
import { assertRunnable, type Topology } from './topology.ts';

export interface FleetOptions {
  /** The fleet's directory: plan, state, secrets, logs, per-process data, the edge. */
  dir: string;
  /** The project root the processes run in (their command lines name `src/app/cli.ts`); default this checkout's. */
  cwd?: string | undefined;
  /** The node binary; default the one running this command. */
  node?: string | undefined;
  /** SIGTERM → SIGKILL after this long, per process; default 15 s. */
  stopTimeoutMs?: number | undefined;
  backoff?: BackoffOptions | undefined;
  log?: ((line: string) => void) | undefined;
}

/** One line of `fleet status`. */
export interface FleetProcessStatus {
  name: string;
  role: string;
  group: string;
  port: number;
  pid: number | null;
  state: ProcessState | 'edge';
  health: 'ready' | 'not ready';
  restarts: number;
  log: string;
}

export interface FleetStatus {
  running: boolean;
  supervisorPid: number | null;
  /** The front door: the edge, else the first gateway. */
  publicUrl: string | null;
  dir: string;
  logs: string;
  processes: FleetProcessStatus[];
}

/** This checkout's root, whatever directory `fleet up` is run from. */
const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function supervisorRunning(dir: string, state: FleetState | undefined): Promise<boolean> {
  return state !== undefined && (await isOurs(state.supervisorPid, supervisorMarks(dir)));
}

/** JWT_SECRET and INTERNAL_SECRET: the topology's, else generated once into `<dir>/secrets/`. */
async function secretsFor(topology: Topology, dir: string): Promise<FleetSecrets> {
  return {
    JWT_SECRET: topology.env.JWT_SECRET ?? (await loadOrCreateSecret(dir, 'jwt-secret')),
    INTERNAL_SECRET: topology.env.INTERNAL_SECRET ?? (await loadOrCreateSecret(dir, 'internal-secret')),
  };
}

export async function fleetStatus(options: Pick<FleetOptions, 'dir'>): Promise<FleetStatus> {
  const dir = resolve(options.dir);
  const state = await readState(dir);
  const running = await supervisorRunning(dir, state);
  const processes: FleetProcessStatus[] = await Promise.all(
    (state?.processes ?? []).map(async (p) => ({
      name: p.name, role: p.role, group: p.group, port: p.port, pid: p.pid, state: p.state, restarts: p.restarts, log: p.log,
      health: p.state === 'running' && (await probeReady(p.port)) ? 'ready' as const : 'not ready' as const,
    })),
  );
  if (state?.edge) {
    const edge = state.edge;
    processes.unshift({
      name: 'edge', role: 'edge', group: 'edge', port: edge.port, pid: edge.pid, state: 'edge', restarts: state.edgeRestarts ?? 0, log: `${fleetPaths(dir).edge}/error.log`,
      health: (await probeEdge(edge.port)) ? 'ready' : 'not ready',
    });
  }
  return { running, supervisorPid: running ? state!.supervisorPid : null, publicUrl: state?.publicUrl ?? null, dir, logs: fleetPaths(dir).logs, processes };
}

/**
 * Starts the fleet: the edge (nginx, as `infra` runs it), then a detached supervisor that starts
 * and watches the instances and gateways (see `supervisor.ts`). Resolves once every process is
 * ready, or throws after `readyTimeoutMs` naming those that are not (the fleet keeps running:
 * `status` and the logs say why, `down` stops it). A second `up` while one runs is refused.
 */
export async function fleetUp(topology: Topology, options: FleetOptions & { readyTimeoutMs?: number }): Promise<FleetStatus> {
  assertRunnable(topology);
  const dir = resolve(options.dir);
  const paths = fleetPaths(dir);
  const log = options.log ?? (() => {});
  const previous = await readState(dir);
  if (await supervisorRunning(dir, previous)) throw new Error(`a fleet already runs from ${dir} (supervisor pid ${previous!.supervisorPid}); \`scalemart fleet down\` first`);
  const leftovers = await Promise.all((previous?.processes ?? []).map((p) => (p.pid === null ? false : isOurs(p.pid, processMarks(p)))));
  if (leftovers.some(Boolean)) {
    throw new Error(`processes of an earlier fleet in ${dir} still run without their supervisor; \`scalemart fleet down\` stops them`);
  }

  await mkdir(paths.logs, { recursive: true });
  await mkdir(paths.data, { recursive: true });
  const secrets = await secretsFor(topology, dir);
  const processes = planFleet(topology, secrets, paths.data, undefined, undefined, paths.routes);
  // Service groups: the gateways read their pools and routes from this file (`--routes`).
  const routes = gatewayRoutes(topology, instanceUrls(processes));
  if (routes) await writeJson(paths.routes, routes);
  const ports = [...processes.map((p) => p.port), ...(topology.edge.enabled ? [topology.edge.port] : [])];
  const taken = (await Promise.all(ports.map(async (p) => ((await portAnswers(p)) ? p : undefined)))).filter((p) => p !== undefined);
  if (taken.length > 0) throw new Error(`port(s) ${taken.join(', ')} already answer; stop what runs there or change the topology`);

  let edge: StartedEdge | undefined;
  const edgeOptions = topology.edge.enabled ? { dir: paths.edge, port: topology.edge.port, upstreams: edgeUpstreams(processes), cache: topology.edge.cache } : undefined;
  if (edgeOptions) {
    log(`edge: starting nginx on port ${edgeOptions.port}`);
    edge = await startEdge(edgeOptions, log);
  }
  const plan: FleetPlan = {
    version: 1, processes, edge: edgeOptions, node: options.node ?? process.execPath, cwd: resolve(options.cwd ?? PROJECT_ROOT),
    publicUrl: publicUrl(topology, processes), stopTimeoutMs: options.stopTimeoutMs ?? 15_000, backoff: options.backoff ?? DEFAULT_BACKOFF,
  };
  await writeJson(paths.plan, plan, 0o600);
  // The supervisor reads the edge from the state it inherits, so `down` finds it even after a crash.
  await writeJson(paths.state, { version: 1, supervisorPid: 0, publicUrl: plan.publicUrl, edge, processes: [], updatedAt: new Date().toISOString() } satisfies FleetState);

  const out = await open(paths.supervisorLog, 'a');
  const supervisor = spawn(plan.node, [resolve(plan.cwd, 'src/app/cli.ts'), 'fleet', 'supervise', dir], {
    cwd: plan.cwd, detached: true, stdio: ['ignore', out.fd, out.fd],
  });
  let supervisorExit: number | null | undefined;
  supervisor.once('exit', (code) => (supervisorExit = code));
  supervisor.unref();
  await out.close();
  log(`supervisor: pid ${supervisor.pid}; logs in ${paths.logs}`);

  const deadline = Date.now() + (options.readyTimeoutMs ?? 180_000);
  for (;;) {
    const status = await fleetStatus({ dir });
    const expected = processes.length + (edge ? 1 : 0);
    const notReady = status.processes.filter((p) => p.health !== 'ready').map((p) => p.name);
    if (status.processes.length === expected && notReady.length === 0) return status;
    if (supervisorExit !== undefined) throw new Error(`the supervisor exited (code ${supervisorExit}); see ${paths.supervisorLog}`);
    if (Date.now() > deadline) throw new Error(`not ready in time: ${notReady.join(', ') || 'the supervisor has not reported'}; see ${paths.logs}`);
    await sleep(250);
  }
}

/**
 * Stops the fleet: the supervisor by SIGTERM (it stops gateways, then instances, each SIGTERM then
 * SIGKILL), then the edge (SIGQUIT, as `infra down`), and finally any recorded pid that is still
 * the process we started (a supervisor that was itself killed leaves its children).
 * Only recorded pids are signalled, never processes found by name.
 */
export async function fleetDown(options: FleetOptions): Promise<string[]> {
  const dir = resolve(options.dir);
  const stopTimeoutMs = options.stopTimeoutMs ?? 15_000;
  const state = await readState(dir);
  if (!state) return [];
  const actions: string[] = [];
  if (await supervisorRunning(dir, state)) {
    process.kill(state.supervisorPid, 'SIGTERM');
    // Its children get stopTimeoutMs for SIGTERM and then SIGKILL; allow for that and a margin.
    const deadline = Date.now() + stopTimeoutMs * 2 + 5_000;
    while (alive(state.supervisorPid) && Date.now() < deadline) await sleep(100);
    if (alive(state.supervisorPid) && (await isOurs(state.supervisorPid, supervisorMarks(dir)))) {
      process.kill(state.supervisorPid, 'SIGKILL');
      actions.push(`supervisor (pid ${state.supervisorPid}): killed after ${Math.round((stopTimeoutMs * 2 + 5_000) / 1000)} s`);
    } else {
      actions.push(`supervisor (pid ${state.supervisorPid}): stopped`);
    }
  }
  // The edge after the supervisor, which would otherwise start it again; meanwhile it keeps
  // routing to the draining gateways. The latest state names the edge the supervisor restarted.
  const latest = (await readState(dir)) ?? state;
  if (latest.edge && (await stopEdge(latest.edge))) actions.push('edge: stopped');
  // Whatever the supervisor recorded and is still ours: orphans of a supervisor that died.
  for (const p of latest.processes) {
    if (p.pid === null || !(await isOurs(p.pid, processMarks(p)))) continue;
    process.kill(p.pid, 'SIGTERM');
    const deadline = Date.now() + stopTimeoutMs;
    while (alive(p.pid) && Date.now() < deadline) await sleep(100);
    if (alive(p.pid)) process.kill(p.pid, 'SIGKILL');
    actions.push(`${p.name} (pid ${p.pid}): stopped without its supervisor`);
  }
  const stoppedCount = latest.processes.length;
  if (stoppedCount > 0) actions.push(`${stoppedCount} process(es) stopped`);
  await writeJson(fleetPaths(dir).state, {
    ...latest, edge: undefined, supervisorPid: 0, updatedAt: new Date().toISOString(),
    processes: latest.processes.map((p) => ({ ...p, state: 'stopped' as const })),
  } satisfies FleetState);
  return actions;
}
