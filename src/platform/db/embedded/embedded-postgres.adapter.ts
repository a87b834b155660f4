import path from 'node:path';
import type { Database } from '../database.ts';
import { createPostgresDatabase } from '../postgres.adapter.ts';
import { startEmbeddedServer } from './embedded-server.ts';

export interface EmbeddedPostgresOptions {
  /** The data directory; the cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  poolSize: number;
  onAcquireWait?: (ms: number) => void;
}

/**
 * The default database: a PostgreSQL server that this process starts under its data directory and
 * stops when it closes (or dies), reached through the same node-postgres adapter as any server.
 */
export async function createEmbeddedPostgresDatabase(options: EmbeddedPostgresOptions): Promise<Database> {
  const server = await startEmbeddedServer({ dir: path.join(options.dataDir, 'postgres') });
  const db = createPostgresDatabase({ connectionString: server.url, poolSize: options.poolSize, onAcquireWait: options.onAcquireWait });
  return {
    ...db,
    async close() {
      try {
        await db.close();
      } finally {
        await server.stop();
      }
    },
  };
}
