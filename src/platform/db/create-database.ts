import path from 'node:path';
import type { Database } from './database.ts';
import { createEmbeddedPostgresDatabase } from './embedded/embedded-postgres.adapter.ts';
import { createPgliteDatabase } from './pglite.adapter.ts';
import { createPostgresDatabase } from './postgres.adapter.ts';

export interface DatabaseSettings {
  /**
   * `''` for the embedded PostgreSQL server under dataDir, `pglite://` for PGlite under dataDir,
   * `memory://` for in-memory PGlite, else a postgres:// URL.
   */
  url: string;
  dataDir: string;
  poolSize: number;
  /** Told each connection checkout's wait, in ms (PostgreSQL only). */
  onAcquireWait?: (ms: number) => void;
  /** Where events appended through it go (PostgreSQL only; see events/wal-relay.ts). */
  outbox?: 'table' | 'wal';
}

/** Chooses the adapter for a connection setting. */
export async function createDatabase(settings: DatabaseSettings): Promise<Database> {
  if (settings.url.startsWith('postgres')) {
    return createPostgresDatabase({ connectionString: settings.url, poolSize: settings.poolSize, onAcquireWait: settings.onAcquireWait, outbox: settings.outbox });
  }
  if (settings.url === '') return createEmbeddedPostgresDatabase({ dataDir: settings.dataDir, poolSize: settings.poolSize, onAcquireWait: settings.onAcquireWait });
  return createPgliteDatabase({ dataDir: settings.url === 'memory://' ? 'memory://' : path.join(settings.dataDir, 'pglite') });
}
