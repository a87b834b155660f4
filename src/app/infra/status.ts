import pg from 'pg';
import { probeEdge } from './edge.ts';
import { probeService } from './services.ts';
import type { PgRole, PgServerSpec } from './topology.ts';

/** One line of `infra status`. */
export interface ServerStatus {
  name: string;
  role: PgRole | 'cache' | 'events' | 'edge';
  port: number;
  health: 'up' | 'down';
  /** Replicas only: streaming state as the primary sees it (e.g. `streaming`), or null when not connected. */
  replication?: string | null;
  /** Replicas only: WAL bytes the replica has yet to replay, from the primary's pg_stat_replication. */
  lagBytes?: number | null;
  /** Replicas only: seconds since the last replayed transaction committed; grows while the primary is idle. */
  lagSeconds?: number | null;
  /** Redis, NATS and the edge: whether this infra directory started it or found it running. */
  managed?: boolean;
}

async function withClient<T>(port: number, fn: (client: pg.Client) => Promise<T>): Promise<T | undefined> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
  // A refused connection also emits 'error' on the client; without a listener it would crash us.
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

interface ReplicationRow {
  application_name: string;
  state: string;
  lag_bytes: string | null;
}

/** Probes every PostgreSQL server, joining each replica's own view with its primary's. */
export async function pgStatus(specs: readonly PgServerSpec[]): Promise<ServerStatus[]> {
  const replicationByPrimary = new Map<string, ReplicationRow[]>();
  const health = await Promise.all(
    specs.map(async (spec) => {
      const result = await withClient(spec.port, async (client) => {
        if (spec.role === 'replica') {
          const { rows } = await client.query<{ lag: string | null }>('select extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 as lag');
          return { lagSeconds: rows[0]?.lag == null ? null : Math.max(0, Number(rows[0].lag)) };
        }
        const { rows } = await client.query<ReplicationRow>(
          'select application_name, state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint as lag_bytes from pg_stat_replication',
        );
        replicationByPrimary.set(spec.name, rows);
        return { lagSeconds: undefined };
      });
      return { spec, up: result !== undefined, lagSeconds: result?.lagSeconds };
    }),
  );
  return health.map(({ spec, up, lagSeconds }) => {
    const line: ServerStatus = { name: spec.name, role: spec.role, port: spec.port, health: up ? 'up' : 'down' };
    if (spec.role !== 'replica') return line;
    const row = replicationByPrimary.get(spec.primary ?? '')?.find((r) => r.application_name === spec.name);
    return {
      ...line,
      replication: row?.state ?? null,
      lagBytes: row?.lag_bytes == null ? null : Number(row.lag_bytes),
      lagSeconds: up ? (lagSeconds ?? null) : null,
    };
  });
}

export async function serviceStatus(name: 'redis' | 'nats', port: number, managed: boolean): Promise<ServerStatus> {
  const up = await probeService(name, port);
  return { name, role: name === 'redis' ? 'cache' : 'events', port, health: up ? 'up' : 'down', managed };
}

/** The nginx edge: up when it answers its own liveness route (whatever the gateways behind it do). */
export async function edgeStatus(port: number, managed: boolean): Promise<ServerStatus> {
  return { name: 'edge', role: 'edge', port, health: (await probeEdge(port)) ? 'up' : 'down', managed };
}
