import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { findPgBinaries, type PgBinaries } from './binaries.ts';
import { edgeDir, isOurEdge, probeEdge, reloadEdge, startEdge, stopEdge, type StartedEdge } from './edge.ts';
import { readManifest, writeManifest, type EdgeSettings, type InfraManifest } from './manifest.ts';
import { assertReachable, createPgServer, ensureOwnedDir, type PgServer } from './postgres-server.ts';
import { resolveRunAs, type RunAs } from './run.ts';
import { probeService, startNats, startRedis, stopService, type ServiceName, type StartedService } from './services.ts';
import { edgeStatus, pgStatus, serviceStatus, type ServerStatus } from './status.ts';
import { DEFAULT_EDGE_PORT, DEFAULT_NATS_PORT, DEFAULT_REDIS_PORT, ephemeralPortRange, portsInRange } from './ports.ts';
import { createTopology, DEFAULT_BASE_PORT, serverUrl, type PgServerSpec } from './topology.ts';

export interface InfraOptions {
  /** The one directory holding every server's data, logs and the manifest. */
  dir: string;
  /** main = base, replicas base+1.., shards base+10..; default 15432, or what the manifest recorded. */
  basePort?: number | undefined;
  /** Standard ports by default, so a Redis or NATS already running there is reused. */
  redisPort?: number | undefined;
  natsPort?: number | undefined;
  /**
   * Also run nginx as the edge balancer in front of the gateways (see `edge.ts`). Fields left out
   * keep what the manifest recorded, else the defaults: port 18080, upstreams
   * http://127.0.0.1:3001 and :3002, cache off. Once asked for, later `up`s keep the edge.
   */
  edge?: Partial<EdgeSettings> | undefined;
  /** Progress lines for a person watching; silent by default. */
  log?: ((line: string) => void) | undefined;
}

export interface InfraUrls {
  main: string;
  replicas: string[];
  shards: string[];
  redis: string;
  nats: string;
  /** The edge's URL, when this directory runs one. */
  edge?: string | undefined;
}

/** The two gateways an edge balances over unless told otherwise (`scalemart start --role gateway --port 3001`, `3002`). */
export const DEFAULT_EDGE_UPSTREAMS = ['http://127.0.0.1:3001', 'http://127.0.0.1:3002'];

export interface UpResult {
  /** What this call created or started, e.g. `main: created`, `replica-1: started`; empty when all was up. */
  actions: string[];
  urls: InfraUrls;
}

export interface Infra {
  up(): Promise<UpResult>;
  down(options?: { purge?: boolean }): Promise<string[]>;
  status(): Promise<ServerStatus[]>;
  urls(): Promise<InfraUrls>;
}

type Started = StartedService | StartedEdge;

export function createInfra(options: InfraOptions): Infra {
  const dir = resolve(options.dir);
  const redisPort = options.redisPort ?? DEFAULT_REDIS_PORT;
  const natsPort = options.natsPort ?? DEFAULT_NATS_PORT;
  const log = options.log ?? (() => {});

  async function layout() {
    const manifest = await readManifest(dir);
    if (manifest && options.basePort !== undefined && manifest.basePort !== options.basePort) {
      // Ports are written into every server's config and into the replicas' primary_conninfo.
      throw new Error(`${dir} holds servers on base port ${manifest.basePort}, not ${options.basePort}; use that port or another --dir`);
    }
    const basePort = manifest?.basePort ?? options.basePort ?? DEFAULT_BASE_PORT;
    const recorded = manifest?.edge;
    const edge: EdgeSettings | undefined = options.edge || recorded
      ? {
          port: options.edge?.port ?? recorded?.port ?? DEFAULT_EDGE_PORT,
          upstreams: options.edge?.upstreams ?? recorded?.upstreams ?? DEFAULT_EDGE_UPSTREAMS,
          cache: options.edge?.cache ?? recorded?.cache ?? false,
        }
      : undefined;
    return { manifest, basePort, specs: createTopology(dir, basePort), edge };
  }

  function urlsOf(specs: PgServerSpec[], edge?: EdgeSettings): InfraUrls {
    return {
      ...(edge ? { edge: `http://127.0.0.1:${edge.port}` } : {}),
      main: serverUrl(specs.find((s) => s.name === 'main')!),
      replicas: specs.filter((s) => s.role === 'replica').map((s) => serverUrl(s)),
      shards: specs.filter((s) => s.role === 'shard').map((s) => serverUrl(s)),
      redis: `redis://127.0.0.1:${redisPort}`,
      nats: `nats://127.0.0.1:${natsPort}`,
    };
  }

  function manifestOf(basePort: number, specs: PgServerSpec[], started: Started[], edge: EdgeSettings | undefined): InfraManifest {
    return {
      version: 1,
      basePort,
      servers: specs.map((s) => ({ name: s.name, role: s.role, port: s.port, dataDir: s.dataDir, url: serverUrl(s) })),
      services: { redis: { port: redisPort }, nats: { port: natsPort } },
      edge,
      started,
      updatedAt: new Date().toISOString(),
    };
  }

  async function bringUp(server: PgServer, actions: string[], primary?: PgServerSpec): Promise<void> {
    const { name } = server.spec;
    if (!server.exists()) {
      log(`${name}: creating`);
      await server.create(primary);
      actions.push(`${name}: created`);
    }
    if (!(await server.isRunning())) {
      log(`${name}: starting on port ${server.spec.port}`);
      await server.start();
      actions.push(`${name}: started`);
    }
    if (server.spec.role !== 'replica' && (await server.ensureDatabase())) actions.push(`${name}: database ${server.spec.database} created`);
  }

  /**
   * Starts the edge, or has the running one reload the config when the settings changed. A port
   * that answers but is not our nginx is an error: we never take over someone else's server.
   */
  async function ensureEdge(edge: EdgeSettings, previous: EdgeSettings | undefined, started: Started[], actions: string[]): Promise<Started[]> {
    const options = { dir: edgeDir(dir), port: edge.port, upstreams: edge.upstreams, cache: edge.cache };
    const ours = started.find((s): s is StartedEdge => s.name === 'edge');
    const others = started.filter((s) => s.name !== 'edge');
    if (ours && (await isOurEdge(ours))) {
      if (previous && JSON.stringify(previous) === JSON.stringify(edge) && ours.port === edge.port) return started;
      if (ours.port !== edge.port) {
        // nginx can move a listener on reload, but a port change is rare enough to restart for.
        await stopEdge(ours);
      } else {
        log(`edge: reloading (${edge.upstreams.join(', ')}, cache ${edge.cache ? 'on' : 'off'})`);
        await reloadEdge(ours, options);
        actions.push('edge: reloaded');
        return started;
      }
    }
    if (await probeEdge(edge.port)) throw new Error(`edge: port ${edge.port} already answers, and not from this directory's nginx; choose another --edge-port`);
    log(`edge: starting nginx on port ${edge.port} in front of ${edge.upstreams.join(', ')}`);
    const startedEdge = await startEdge(options, log);
    actions.push('edge: started');
    return [...others, startedEdge];
  }

  async function ensureService(name: ServiceName, port: number, started: Started[], actions: string[]): Promise<Started[]> {
    if (await probeService(name, port)) return started;
    // Whatever we recorded before is gone (stopped or crashed): forget it and start afresh.
    const others = started.filter((s) => s.name !== name);
    log(`${name}: starting on port ${port}`);
    const service = name === 'redis' ? await startRedis(join(dir, 'redis'), port) : await startNats(join(dir, 'nats'), port);
    actions.push(`${name}: started`);
    return [...others, service];
  }

  function servers(specs: PgServerSpec[], binaries: PgBinaries, runAs: RunAs | undefined): PgServer[] {
    return specs.map((spec) => createPgServer(spec, { binaries, runAs, logDir: join(dir, 'logs') }));
  }

  return {
    async up() {
      const { manifest, basePort, specs, edge } = await layout();
      const range = ephemeralPortRange();
      const risky = range ? portsInRange([...specs.map((s) => s.port), redisPort, natsPort, ...(edge ? [edge.port] : [])], range) : [];
      if (range && risky.length > 0) {
        log(`warning: port(s) ${risky.join(', ')} lie in the kernel's ephemeral range ${range.low}-${range.high}; an outgoing connection may hold one (a --base-port below ${range.low} avoids it)`);
      }
      const binaries = findPgBinaries();
      const runAs = await resolveRunAs();
      await ensureOwnedDir(dir, runAs);
      await ensureOwnedDir(join(dir, 'pg'), runAs);
      await assertReachable(dir, runAs);
      const all = servers(specs, binaries, runAs);
      const main = all.find((s) => s.spec.name === 'main')!;
      const actions: string[] = [];
      // Shards and main come up together; replicas copy main, so they wait for it alone.
      const mainReady = bringUp(main, actions);
      const results = await Promise.allSettled([
        mainReady,
        ...all.filter((s) => s.spec.role === 'shard').map((s) => bringUp(s, actions)),
        ...all.filter((s) => s.spec.role === 'replica').map((s) => mainReady.then(() => bringUp(s, actions, main.spec))),
      ]);
      const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      let started: Started[] = manifest?.started ?? [];
      for (const [name, port] of [['redis', redisPort], ['nats', natsPort]] as const) {
        // A service that fails must not cost the record of one we did start: `down` needs it.
        try {
          started = await ensureService(name, port, started, actions);
        } catch (error) {
          failures.push(error);
        }
      }
      if (edge) {
        try {
          started = await ensureEdge(edge, manifest?.edge, started, actions);
        } catch (error) {
          failures.push(error);
        }
      }
      await writeManifest(dir, manifestOf(basePort, specs, started, edge));
      if (failures.length > 0) throw new AggregateError(failures, `infra up: ${failures.length} server(s) failed: ${failures.map(String).join('; ')}`);
      return { actions, urls: urlsOf(specs, edge) };
    },

    async down({ purge = false } = {}) {
      const { manifest, basePort, specs, edge } = await layout();
      const actions: string[] = [];
      if (manifest || purge) {
        const binaries = findPgBinaries();
        const runAs = await resolveRunAs();
        const all = servers(specs, binaries, runAs);
        const stopAll = async (group: PgServer[]) =>
          Promise.all(group.map(async (s) => {
            if (!(await s.isRunning())) return;
            await s.stop();
            actions.push(`${s.spec.name}: stopped`);
          }));
        // Replicas first, so the primary's shutdown does not leave them retrying a vanished sender.
        await stopAll(all.filter((s) => s.spec.role === 'replica'));
        await stopAll(all.filter((s) => s.spec.role !== 'replica'));
        for (const service of manifest?.started ?? []) {
          if (service.name === 'edge') {
            if (await stopEdge(service as StartedEdge)) actions.push('edge: stopped');
            continue;
          }
          await stopService(service as StartedService);
          actions.push(`${service.name}: stopped`);
        }
      }
      if (purge) {
        await rm(dir, { recursive: true, force: true });
        actions.push(`${dir}: deleted`);
      } else if (manifest) {
        await writeManifest(dir, manifestOf(basePort, specs, [], edge));
      }
      return actions;
    },

    async status() {
      const { manifest, specs, edge } = await layout();
      const started = new Set((manifest?.started ?? []).map((s) => s.name));
      return [
        ...(await pgStatus(specs)),
        await serviceStatus('redis', redisPort, started.has('redis')),
        await serviceStatus('nats', natsPort, started.has('nats')),
        ...(edge ? [await edgeStatus(edge.port, started.has('edge'))] : []),
      ];
    },

    async urls() {
      const { specs, edge } = await layout();
      return urlsOf(specs, edge);
    },
  };
}
