import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { backoffMs, fleetPaths, readPlan, readState, writeJson, type FleetPlan, type FleetState, type ProcessRecord } from './state.ts';
import { isOurEdge, startEdge, type StartedEdge } from '../infra/edge.ts';
import { probeReady } from './health.ts';

/**
 * The fleet's supervisor: `scalemart fleet supervise DIR`, forked detached by `fleet up`.
 *
 * Why a process of its own: supervision must outlive the command that started it (`fleet up`
 * returns to the shell), and only a parent learns at once, from the `exit` event, that its child
 * died. A restart loop polling pids from a cron-like `status` would be late and racy; a systemd
 * unit per process would need root and a unit file per topology. So the supervisor owns every
 * gateway and instance as its children, restarts a crashed one with capped exponential backoff,
 * (and the nginx edge, which daemonizes, by watching its pid), and writes `state.json` on every
 * change; `status` reads that file, and `down` sends the
 * supervisor SIGTERM, which stops the children gracefully and then exits. Were the supervisor
 * itself killed, its children live on with their pids in `state.json`, and `down` stops them
 * by those pids.
 */
export async function runSupervisor(dir: string): Promise<void> {
  const plan = await readPlan(dir);
  if (!plan) throw new Error(`${fleetPaths(dir).plan}: no plan; run \`scalemart fleet up\``);
  const previous = await readState(dir);
  const paths = fleetPaths(dir);
  const records = new Map<string, ProcessRecord>(
    plan.processes.map((p) => [p.name, { name: p.name, role: p.role, group: p.group, port: p.port, pid: null, state: 'starting', restarts: 0, log: join(paths.logs, `${p.name}.log`) }]),
  );
  const children = new Map<string, ChildProcess>();
  const timers = new Map<string, NodeJS.Timeout>();
  const crashes = new Map<string, { inARow: number; startedAt: number }>();
  let stopping = false;
  let edge: StartedEdge | undefined = previous?.edge;
  let edgeRestarts = 0;

  // Writes are serialised so an older state never lands after a newer one.
  let writing = Promise.resolve();
  const save = () => {
    const state: FleetState = {
      version: 1, supervisorPid: process.pid, publicUrl: plan.publicUrl, edge, edgeRestarts,
      processes: [...records.values()], updatedAt: new Date().toISOString(),
    };
    writing = writing.then(() => writeJson(paths.state, state)).catch((error: unknown) => log(`state write failed: ${String(error)}`));
    return writing;
  };
  const log = (line: string) => void process.stdout.write(`${new Date().toISOString()} ${line}\n`);

  function start(name: string): void {
    const spec = plan!.processes.find((p) => p.name === name)!;
    const record = records.get(name)!;
    const fd = openSync(record.log, 'a');
    const child = spawn(plan!.node, spec.args, { cwd: plan!.cwd, env: { ...process.env, ...spec.env }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    children.set(name, child);
    record.pid = child.pid ?? null;
    record.state = 'running';
    const entry = crashes.get(name) ?? { inARow: 0, startedAt: 0 };
    entry.startedAt = Date.now();
    crashes.set(name, entry);
    log(`${name}: started, pid ${child.pid} (${spec.args.join(' ')})`);
    void save();
    // A spawn that fails (no such binary) emits 'error'; unhandled, it would end the supervisor.
    child.once('error', (error) => log(`${name}: ${error.message}`));
    child.once('exit', (code, signal) => {
      children.delete(name);
      record.lastExit = { code, signal, at: new Date().toISOString() };
      if (stopping) {
        record.state = 'stopped';
        void save();
        return;
      }
      if (Date.now() - entry.startedAt >= plan!.backoff.resetAfterMs) entry.inARow = 0;
      entry.inARow += 1;
      const delay = backoffMs(entry.inARow, plan!.backoff);
      record.restarts += 1;
      record.state = 'backoff';
      log(`${name}: exited (code ${code}, signal ${signal}); restart ${record.restarts} in ${delay} ms`);
      timers.set(name, setTimeout(() => {
        timers.delete(name);
        if (!stopping) start(name);
        void save();
      }, delay));
      void save();
    });
  }

  async function stopAll(names: string[]): Promise<void> {
    await Promise.all(names.map(async (name) => {
      const child = children.get(name);
      if (!child) {
        records.get(name)!.state = 'stopped';
        return;
      }
      records.get(name)!.state = 'stopping';
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        log(`${name}: no exit ${plan!.stopTimeoutMs} ms after SIGTERM; SIGKILL`);
        child.kill('SIGKILL');
      }, plan!.stopTimeoutMs);
      await exited;
      clearTimeout(timer);
    }));
  }

  /**
   * nginx runs as a daemon (its master is not our child), so its death is seen by polling its
   * pid every second; it is started again with the same backoff. Its workers can outlive a killed
   * master and hold the port for a moment; a start that fails then is simply retried.
   */
  let edgeCrashes = 0;
  let edgeBusy = false;
  const watchEdge = setInterval(() => {
    if (!plan.edge || !edge || stopping || edgeBusy) return;
    edgeBusy = true;
    void (async () => {
      if (await isOurEdge(edge!)) return;
      edgeCrashes += 1;
      const delay = backoffMs(edgeCrashes, plan.backoff);
      log(`edge: pid ${edge!.pid} is gone; starting it again in ${delay} ms`);
      await new Promise((r) => setTimeout(r, delay));
      if (stopping) return;
      edge = await startEdge(plan.edge!, log);
      edgeRestarts += 1;
      edgeCrashes = 0;
      log(`edge: started again, pid ${edge.pid}`);
      await save();
    })().catch((error: unknown) => log(`edge: restart failed (${error instanceof Error ? error.message : String(error)}); retrying`))
      .finally(() => (edgeBusy = false));
  }, 1000);

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(watchEdge);
    log(`${signal}: stopping the fleet`);
    for (const timer of timers.values()) clearTimeout(timer);
    for (const name of timers.keys()) records.get(name)!.state = 'stopped';
    timers.clear();
    await save();
    // Gateways first, so no request is sent to an instance that is going away.
    await stopAll(plan.processes.filter((p) => p.role === 'gateway').map((p) => p.name));
    await stopAll(plan.processes.filter((p) => p.role !== 'gateway').map((p) => p.name));
    await save();
    log('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  await save();
  await bringUp(plan, start, () => stopping, log);
  await save();
}

/**
 * Starting order: the first instance of each group alone, until ready (it runs the migrations
 * and seeds an empty database; two at once would race; service groups one group at a time, in
 * the topology's order, as they call each other), then the other instances, then the
 * gateways (which find their upstreams ready). A process that does not get ready is left to the
 * supervisor's restarts and reported by `status`; the order only avoids needless races.
 */
async function bringUp(plan: FleetPlan, start: (name: string) => void, stopping: () => boolean, log: (line: string) => void): Promise<void> {
  const instances = plan.processes.filter((p) => p.role !== 'gateway');
  const firsts = instances.filter((p, i) => instances.findIndex((q) => q.group === p.group) === i);
  const waitReady = async (port: number, name: string) => {
    const deadline = Date.now() + 120_000;
    while (!stopping() && Date.now() < deadline) {
      if (await probeReady(port)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (!stopping()) log(`${name}: not ready after 120 s; starting the rest anyway`);
  };
  // Service groups one after the other, in the topology's order: the group running catalog seeds
  // the demo catalog with its users through identity, which must answer by then.
  for (const p of firsts.filter((q) => q.role === 'service')) {
    if (stopping()) return;
    start(p.name);
    await waitReady(p.port, p.name);
  }
  const alls = firsts.filter((q) => q.role !== 'service');
  for (const p of alls) start(p.name);
  await Promise.all(alls.map((p) => waitReady(p.port, p.name)));
  if (stopping()) return;
  for (const p of instances.filter((q) => !firsts.includes(q))) start(p.name);
  for (const p of plan.processes.filter((q) => q.role === 'gateway')) start(p.name);
}
