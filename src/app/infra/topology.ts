import { join } from 'node:path';

export type PgRole = 'primary' | 'replica' | 'shard';

/** One PostgreSQL server of the local topology. */
export interface PgServerSpec {
  name: string;
  role: PgRole;
  port: number;
  /** Its data directory, under the infra directory. */
  dataDir: string;
  /** For a replica: the primary it streams from. */
  primary?: string | undefined;
  /** The application database, created on primaries and shards (replicas get it by streaming). */
  database: string;
}

/** Below the kernel's ephemeral range (32768 and up on Linux; see ports.ts), so no outgoing connection holds one. */
export const DEFAULT_BASE_PORT = 15432;
export const SHARD_COUNT = 4;
export const REPLICA_COUNT = 2;
export const DATABASE_NAME = 'scalemart';

/**
 * The fixed shape of the scaled stage's data tier: `main` (base port) for the unsharded modules,
 * two streaming replicas of it (base+1, base+2) and four shard primaries (base+10..base+13)
 * for orders and inventory. Shards start at +10 so more replicas can be added without renumbering.
 */
export function createTopology(dir: string, basePort = DEFAULT_BASE_PORT): PgServerSpec[] {
  const server = (name: string, role: PgRole, port: number, primary?: string): PgServerSpec => ({
    name,
    role,
    port,
    dataDir: join(dir, 'pg', name),
    primary,
    database: DATABASE_NAME,
  });
  return [
    server('main', 'primary', basePort),
    ...Array.from({ length: REPLICA_COUNT }, (_, i) => server(`replica-${i + 1}`, 'replica', basePort + 1 + i, 'main')),
    ...Array.from({ length: SHARD_COUNT }, (_, i) => server(`shard-${i}`, 'shard', basePort + 10 + i)),
  ];
}

/** The connection URL of a server's application database. */
export function serverUrl(spec: PgServerSpec, host = '127.0.0.1'): string {
  return `postgres://postgres@${host}:${spec.port}/${spec.database}`;
}
