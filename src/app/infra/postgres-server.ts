import { appendFile, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PgBinaries } from './binaries.ts';
import { PG_HBA, replicaConf, serverConf } from './postgres-config.ts';
import { exitStatus, run, type RunAs } from './run.ts';
import { ensureDatabase } from '../../platform/db/service-database.ts';
import { serverUrl, type PgServerSpec } from './topology.ts';

/** Drives one PostgreSQL server of the topology through the machine's own programs. */
export interface PgServer {
  readonly spec: PgServerSpec;
  /** True when the data directory holds an initialised cluster. */
  exists(): boolean;
  /** Creates the cluster: initdb for primaries and shards, a base backup of `primary` for replicas. */
  create(primary?: PgServerSpec): Promise<void>;
  isRunning(): Promise<boolean>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Creates the application database when it is missing; returns true when it did. */
  ensureDatabase(): Promise<boolean>;
}

export interface PgServerOptions {
  binaries: PgBinaries;
  runAs: RunAs | undefined;
  logDir: string;
}

/** Makes a path ours-or-postgres': when root hands PostgreSQL to `postgres`, it must own what it writes. */
export async function ensureOwnedDir(dir: string, runAs: RunAs | undefined): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (runAs) await chown(dir, runAs.uid, runAs.gid);
}

/**
 * Fails early, with advice, when `postgres` cannot reach the directory root created for it:
 * a parent such as /root is closed to other users, and initdb's own error would not say why.
 */
export async function assertReachable(dir: string, runAs: RunAs | undefined): Promise<void> {
  if (!runAs) return;
  if ((await exitStatus('test', ['-w', dir], { as: runAs, cwd: '/' })) !== 0) {
    throw new Error(`the ${runAs.name} OS user cannot write ${dir}: every parent directory must be searchable by it; choose another --dir (e.g. under /var/tmp)`);
  }
}

export function createPgServer(spec: PgServerSpec, options: PgServerOptions): PgServer {
  const { binaries, runAs, logDir } = options;
  const logFile = join(logDir, `${spec.name}.log`);
  // pg programs run with a cwd postgres can enter; /root or a project dir may be closed to it.
  const as = { as: runAs, cwd: dirname(spec.dataDir) };

  async function initdb(): Promise<void> {
    await run(binaries.initdb, ['-D', spec.dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'], as);
    await appendFile(join(spec.dataDir, 'postgresql.conf'), serverConf(spec));
    await writeFile(join(spec.dataDir, 'pg_hba.conf'), PG_HBA);
  }

  async function basebackup(primary: PgServerSpec): Promise<void> {
    await run(
      binaries.pgBasebackup,
      ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', spec.dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync'],
      as,
    );
    // -R wrote primary_conninfo into postgresql.auto.conf, which is read last; a later line there
    // wins, so our port and a conninfo naming the replica go at its end.
    await appendFile(join(spec.dataDir, 'postgresql.auto.conf'), replicaConf(spec, primary.port));
  }

  return {
    spec,
    exists: () => existsSync(join(spec.dataDir, 'PG_VERSION')),
    async create(primary) {
      // A directory without PG_VERSION is a creation that died half way: start it over.
      if (existsSync(spec.dataDir)) await rm(spec.dataDir, { recursive: true, force: true });
      if (spec.role === 'replica') {
        if (!primary) throw new Error(`${spec.name}: a replica needs its primary to copy`);
        await basebackup(primary);
      } else {
        await initdb();
      }
      if (runAs) {
        // appendFile/writeFile above ran as us; hand the files back to postgres.
        for (const file of ['postgresql.conf', 'pg_hba.conf', 'postgresql.auto.conf']) await chown(join(spec.dataDir, file), runAs.uid, runAs.gid);
      }
    },
    async isRunning() {
      if (!existsSync(spec.dataDir)) return false;
      // pg_ctl status: 0 running, 3 not running, 4 no cluster in the directory.
      return (await exitStatus(binaries.pgCtl, ['status', '-D', spec.dataDir], as)) === 0;
    },
    async start() {
      await ensureOwnedDir(logDir, runAs);
      try {
        await run(binaries.pgCtl, ['start', '-D', spec.dataDir, '-l', logFile, '-w', '-t', '60', '-s'], as);
      } catch (error) {
        throw new Error(`${spec.name} did not start on port ${spec.port}; see ${logFile}`, { cause: error });
      }
    },
    async stop() {
      await run(binaries.pgCtl, ['stop', '-D', spec.dataDir, '-m', 'fast', '-w', '-t', '60', '-s'], as);
    },
    ensureDatabase: () => ensureDatabase(serverUrl(spec)),
  };
}
