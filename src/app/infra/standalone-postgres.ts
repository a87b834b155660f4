import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPgBinaries } from './binaries.ts';
import { assertReachable, createPgServer, ensureOwnedDir } from './postgres-server.ts';
import { resolveRunAs } from './run.ts';
import type { PgServerSpec } from './topology.ts';

export interface StandalonePostgres {
  port: number;
  /** The URL of `database` on this server (default `postgres`). */
  url(database?: string): string;
  /** Stops the server and deletes its data. */
  stop(): Promise<void>;
}

/**
 * One private PostgreSQL server from the machine's binaries, on `port`, in a fresh temporary
 * directory: the infra's settings (so `wal_level = logical`) plus `settings`, whose lines win.
 * For tests and lab scenarios that need a server of their own; `scalemart infra up` runs the
 * scaled stage's.
 */
export async function startStandalonePostgres(options: { port: number; settings?: string; name?: string }): Promise<StandalonePostgres> {
  const dir = await mkdtemp(join(tmpdir(), `scalemart-${options.name ?? 'pg'}-`));
  const runAs = await resolveRunAs();
  await ensureOwnedDir(dir, runAs);
  await assertReachable(dir, runAs);
  const spec: PgServerSpec = { name: options.name ?? 'standalone', role: 'primary', port: options.port, dataDir: join(dir, 'data'), database: 'postgres' };
  const server = createPgServer(spec, { binaries: findPgBinaries(), runAs, logDir: join(dir, 'logs') });
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    await server.create();
    if (options.settings) await appendFile(join(spec.dataDir, 'postgresql.conf'), `\n${options.settings}\n`);
    await server.start();
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    port: options.port,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${options.port}/${database}`,
    async stop() {
      await server.stop().catch(() => undefined);
      await remove();
    },
  };
}
