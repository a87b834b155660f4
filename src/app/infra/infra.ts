import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { findPgBinaries, type PgBinaries } from './binaries.ts';
import { readManifest, writeManifest, type InfraManifest } from './manifest.ts';
import { assertReachable, createPgServer, ensureOwnedDir, type PgServer } from './postgres-server.ts';
import { resolveRunAs, type RunAs } from './run.ts';
import { probeService, startNats, startRedis, stopService, type ServiceName, type StartedService } from './services.ts';
import { pgStatus, serviceStatus, type ServerStatus } from './status.ts';
import { DEFAULT_NATS_PORT, DEFAULT_REDIS_PORT, ephemeralPortRange, portsInRange } from './ports.ts';
import { createTopology, DEFAULT_BASE_PORT, serverUrl, type PgServerSpec } from './topology.ts';

export interface InfraOptions {
  /** The one directory holding every server's data, logs and the manifest. */
  dir: string;
  /** main = base, replicas base+1.., shards base+10..; default 15432, or what the manifest recorded. */
  basePort?: number | undefined;
  /** Standard ports by default, so a Redis or NATS already running there is reused. */
  redisPort?: number | undefined;
  natsPort?: number | undefined;
  /** Progress lines for a person watching; silent by default. */
  log?: ((line: string) => void) | undefined;
}

export interface InfraUrls {
  main: string;
  replicas: string[];
  shards: string[];
  redis: string;
  nats: string;
}

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
    return { manifest, basePort, specs: createTopology(dir, basePort) };
  }

  function urlsOf(specs: PgServerSpec[]): InfraUrls {
    return {
      main: serverUrl(specs.find((s) => s.name === 'main')!),
      replicas: specs.filter((s) => s.role === 'replica').map((s) => serverUrl(s)),
      shards: specs.filter((s) => s.role === 'shard').map((s) => serverUrl(s)),
      redis: `redis://127.0.0.1:${redisPort}`,
      nats: `nats://127.0.0.1:${natsPort}`,
    };
  }

  function manifestOf(basePort: number, specs: PgServerSpec[], started: StartedService[]): InfraManifest {
    return {
      version: 1,
      basePort,
      servers: specs.map((s) => ({ name: s.name, role: s.role, port: s.port, dataDir: s.dataDir, url: serverUrl(s) })),
      services: { redis: { port: redisPort }, nats: { port: natsPort } },
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

  async function ensureService(name: ServiceName, port: number, started: StartedService[], actions: string[]): Promise<StartedService[]> {
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
      const { manifest, basePort, specs } = await layout();
      const range = ephemeralPortRange();
      const risky = range ? portsInRange([...specs.map((s) => s.port), redisPort, natsPort], range) : [];
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
      let started = manifest?.started ?? [];
      for (const [name, port] of [['redis', redisPort], ['nats', natsPort]] as const) {
        // A service that fails must not cost the record of one we did start: `down` needs it.
        try {
          started = await ensureService(name, port, started, actions);
        } catch (error) {
          failures.push(error);
        }
      }
      await writeManifest(dir, manifestOf(basePort, specs, started));
      if (failures.length > 0) throw new AggregateError(failures, `infra up: ${failures.length} server(s) failed: ${failures.map(String).join('; ')}`);
      return { actions, urls: urlsOf(specs) };
    },

    async down({ purge = false } = {}) {
      const { manifest, basePort, specs } = await layout();
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
          await stopService(service);
          actions.push(`${service.name}: stopped`);
        }
      }
      if (purge) {
        await rm(dir, { recursive: true, force: true });
        actions.push(`${dir}: deleted`);
      } else if (manifest) {
        await writeManifest(dir, manifestOf(basePort, specs, []));
      }
      return actions;
    },

    async status() {
      const { manifest, specs } = await layout();
      const started = new Set((manifest?.started ?? []).map((s) => s.name));
      return [
        ...(await pgStatus(specs)),
        await serviceStatus('redis', redisPort, started.has('redis')),
        await serviceStatus('nats', natsPort, started.has('nats')),
      ];
    },

    async urls() {
      return urlsOf((await layout()).specs);
    },
  };
}
